"""The docs a newcomer reads stay true: the README stays short and its links resolve, every setting and job
field is documented, the README's job passes `render check`, and the Python example runs as pasted.

`mkdocs build --strict` (scripts/lint) checks the links and anchors between the pages of docs/.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client

from contracts.job_models import JobIn
from devtools.job_reference import reference
from devtools.settings_reference import MARKER
from devtools.settings_reference import reference as settings_reference
from runtime.settings import AutoscalerEnv, ChannelEnv, LogEnv, RenderEnv, TemporalEnv, WorkerEnv
from starter import check

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
DOCS = ROOT / "docs"


def test_the_readme_is_what_a_newcomer_needs_and_its_links_resolve() -> None:
    assert len(README.splitlines()) <= 400
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README) + re.findall(r'src="([^"]+)"', README):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target


def test_the_quick_start_keeps_its_two_commands() -> None:
    assert (
        "scripts/demo    # installs what is missing, renders the sample trivia video (theme midnight), prints where "
        "it is\nscripts/test    # runs the tests: a fast unit tier first, then real Temporal dev server, ffmpeg and S3 "
        "endpoint\n"
    ) in README


def test_every_setting_is_documented() -> None:
    """The settings models are the source: a variable they read that the docs do not name fails here."""
    documented = (DOCS / "configuration.md").read_text()
    for model in (TemporalEnv, RenderEnv, WorkerEnv, ChannelEnv, LogEnv):
        missing = [variable.name for variable in model.variables() if variable.name not in documented]
        assert not missing, f"{model.__name__}: not in docs/configuration.md: {missing}"
    autoscaler = (DOCS / "kubernetes.md").read_text()
    missing = [name for name in AutoscalerEnv.model_fields if f"{name}`" not in autoscaler and name != "config"]
    assert not missing, f"autoscaler settings not in docs/kubernetes.md: {missing}"


def test_the_configuration_page_is_generated_from_the_settings_models() -> None:
    """Regenerate with: .venv/bin/python -m devtools.settings_reference"""
    page = (DOCS / "configuration.md").read_text()
    assert MARKER in page
    assert page == settings_reference()


def test_the_configuration_page_goes_stale_when_a_setting_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new variable, or a new default, is a different page: the test above would fail until it is regenerated."""
    page = (DOCS / "configuration.md").read_text()
    monkeypatch.setattr(WorkerEnv.model_fields["control_slots"], "default", 9)
    changed = settings_reference()
    assert changed != page and "| `RENDER_CONTROL_SLOTS` | a whole number ≥ 1 | `9` |" in changed


def test_the_job_reference_is_generated_from_the_current_schema() -> None:
    """Regenerate with: .venv/bin/python -m devtools.job_reference"""
    assert (DOCS / "job-reference.md").read_text() == reference()


def test_every_job_field_is_documented() -> None:
    documented = (DOCS / "job-format.md").read_text()
    fields = [field.alias or name for name, field in JobIn.model_fields.items()]
    assert not [name for name in fields if f"`{name}`" not in documented]


async def test_the_readmes_own_job_passes_render_check(tmp_path: Path) -> None:
    (heredoc,) = re.findall(r"cat > job.json <<'JSON'\n(.*?)\nJSON", README, re.S)
    report = await check(json.loads(heredoc))
    assert report.ok and not report.unchecked, report


@pytest.mark.usefixtures("workers")
async def test_the_python_example_runs_as_pasted(client: Client, tmp_path: Path) -> None:
    (script,) = re.findall(r"```python\n(.*?)```", (DOCS / "usage.md").read_text(), re.S)
    (tmp_path / "render_one.py").write_text(script)
    job = {"video_id": f"docs-{uuid.uuid4().hex[:6]}", "profile": {"width": 160, "height": 90},
           "clips": [{"kind": "card", "duration": 0.5, "lines": ["From the docs"]}]}  # fmt: skip
    (tmp_path / "job.json").write_text(json.dumps(job))
    env = {**os.environ, "TEMPORAL_ADDRESS": client.service_client.config.target_host,
           "RENDER_DATA_DIR": str(tmp_path / "var")}  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "render_one.py", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=180)
    assert proc.returncode == 0, err.decode()
    assert out.decode().strip().splitlines()[-1].endswith(f"/{job['video_id']}.mp4")
