"""k8s/images/*.Dockerfile, read statically (no Docker engine here): pinned bases, non-root, real entrypoints.

Also that the manifests run images these files build, with commands those images install.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "k8s" / "images"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SCRIPTS = set(PYPROJECT["project"]["scripts"])


@dataclass(frozen=True)
class Instruction:
    keyword: str
    value: str


def instructions(dockerfile: Path) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped (Dockerfile syntax, no parser directives)."""
    joined: list[str] = []
    pending = ""
    for line in dockerfile.read_text().splitlines():
        if line.strip().startswith("#") or not line.strip():
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    assert not pending, f"{dockerfile.name}: ends inside a continuation"
    parsed = []
    for text in joined:
        keyword, _, value = text.strip().partition(" ")
        parsed.append(Instruction(keyword.upper(), value.strip()))
    return parsed


def values(parsed: list[Instruction], keyword: str) -> list[str]:
    return [i.value for i in parsed if i.keyword == keyword]


def env_of(parsed: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for value in values(parsed, "ENV"):
        env |= dict(re.findall(r"(\w+)=(\S+)", value))
    return env


def apt_packages(parsed: list[Instruction]) -> set[str]:
    packages: set[str] = set()
    for run in values(parsed, "RUN"):
        for command in run.split("&&"):
            words = command.split()
            if words[:2] == ["apt-get", "install"]:
                packages |= {w for w in words[2:] if not w.startswith("-")}
    return packages


DOCKERFILES = sorted(IMAGES.glob("*.Dockerfile"))


def test_there_is_a_gpu_and_a_control_image() -> None:
    assert [p.name for p in DOCKERFILES] == ["control.Dockerfile", "gpu.Dockerfile"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_base_is_pinned_user_is_not_root_and_entrypoint_is_a_console_script(dockerfile: Path) -> None:
    parsed = instructions(dockerfile)
    assert parsed[0].keyword == "FROM"
    for base in values(parsed, "FROM"):
        image = base.split()[0]
        name, _, tag = image.rpartition(":") if "@" not in image else (image, "", "digest")
        assert name and tag and tag != "latest", f"{dockerfile.name}: base {image} is not pinned"
    users = values(parsed, "USER")
    assert users and users[-1].split(":")[0] not in ("root", "0"), f"{dockerfile.name}: runs as root"
    assert users[-1].isdigit(), "a numeric USER lets Kubernetes check runAsNonRoot"
    (entrypoint,) = values(parsed, "ENTRYPOINT")
    command = json.loads(entrypoint)  # exec form: signals reach the worker, which drains on SIGTERM
    assert command[0] in SCRIPTS, f"{command[0]} is not in [project.scripts]"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_the_image_copies_every_package_it_installs(dockerfile: Path) -> None:
    copied: set[str] = set()
    for value in values(instructions(dockerfile), "COPY"):
        *sources, _ = value.split()
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the build context (the repository root)"
            copied.add(source.rstrip("/"))
    assert {"pyproject.toml", "README.md"} <= copied  # the build reads both
    includes = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    wanted = {p for p in packages if any(fnmatch(p, pattern) for pattern in includes)} - {"devtools"}
    assert wanted and wanted <= copied, f"packages missing from the image: {wanted - copied}"
    assert "devtools" not in copied  # development tools stay out of the images
    assert any("pip install" in run and " ." in run for run in values(instructions(dockerfile), "RUN"))


TEXT_FONTS = {"fonts-noto-core", "fonts-noto-cjk", "fonts-noto-color-emoji"}
"""The font chain's faces: every script the service draws, and colour emoji."""


def test_control_image_has_the_fonts_validation_lays_text_out_with() -> None:
    assert {"fonts-dejavu-core", *TEXT_FONTS} <= apt_packages(instructions(IMAGES / "control.Dockerfile"))


def test_gpu_image_has_nvenc_capable_ffmpeg_speech_and_fonts() -> None:
    parsed = instructions(IMAGES / "gpu.Dockerfile")
    (base,) = values(parsed, "FROM")
    assert base.startswith("nvidia/cuda:") and "-runtime-" in base
    assert "video" in env_of(parsed)["NVIDIA_DRIVER_CAPABILITIES"].split(",")
    assert {"ffmpeg", "espeak-ng", "fonts-dejavu-core", *TEXT_FONTS} <= apt_packages(parsed)
    assert json.loads(values(parsed, "CMD")[0]) == ["--mode", "gpu"]


def test_control_image_is_slim_python_that_satisfies_requires_python() -> None:
    parsed = instructions(IMAGES / "control.Dockerfile")
    (base,) = values(parsed, "FROM")
    match = re.fullmatch(r"python:(\d+)\.(\d+)-slim(-\w+)?", base)
    assert match, base
    low = re.search(r">=(\d+)\.(\d+)", PYPROJECT["project"]["requires-python"])
    assert low and (int(match[1]), int(match[2])) >= (int(low[1]), int(low[2]))
    assert "ffmpeg" in apt_packages(parsed)  # concat and probes
    assert json.loads(values(parsed, "CMD")[0]) == ["--mode", "control"]


def test_manifests_run_these_images_with_commands_they_install() -> None:
    seen = set()
    for manifest in (ROOT / "k8s").rglob("*.yaml"):
        for doc in yaml.safe_load_all(manifest.read_text()):
            if not doc or doc.get("kind") != "Deployment":
                continue
            for container in doc["spec"]["template"]["spec"]["containers"]:
                repository, _, tag = container["image"].rpartition(":")
                assert tag and tag != "latest", container["image"]
                flavour = repository.rsplit("/", 1)[-1]
                assert (IMAGES / f"{flavour}.Dockerfile").exists(), f"no Dockerfile builds {container['image']}"
                assert container["command"][0] in SCRIPTS
                seen.add(flavour)
    assert seen == {"control", "gpu"}
