"""One settings layer: every variable typed, a bad value named with what it accepts, defaults as documented."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from engine.settings import Settings, StorageSettings, file_uri
from runtime.connection import TemporalTarget
from runtime.settings import (
    AutoscalerEnv,
    ChannelEnv,
    DeploymentEnv,
    LogEnv,
    RenderEnv,
    SettingsError,
    WorkerEnv,
    load,
    render_settings,
)
from runtime.versioning import SOURCE_PACKAGES, Build, source_build_id
from workers.autoscaler.config import KNOBS, POLICY_KNOBS

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("model", "env", "message"),
    [
        (WorkerEnv, {"RENDER_SLOTS": "two"}, "RENDER_SLOTS: must be a whole number ≥ 0, got 'two'"),
        (
            RenderEnv,
            {"RENDER_ENCODER": "nvenc"},
            "RENDER_ENCODER: must be one of auto, h264_nvenc, libx264, got 'nvenc'",
        ),
        (
            RenderEnv,
            {"RENDER_TTS": "festival"},
            "RENDER_TTS: must be one of auto, espeak, none, polly, google, got 'festival'",
        ),
        (
            RenderEnv,
            {"RENDER_TTS_CHANNELS": "kids=polly,news=festival"},
            "RENDER_TTS_CHANNELS: 'news=festival' is not CHANNEL=ENGINE (espeak, google, none, polly)",
        ),
        (RenderEnv, {"RENDER_TTS_ATTEMPTS": "0"}, "RENDER_TTS_ATTEMPTS: must be a whole number ≥ 1 and ≤ 10, got '0'"),
        (RenderEnv, {"RENDER_SEGMENT_SECONDS": "0"}, "RENDER_SEGMENT_SECONDS: must be a number > 0, got '0'"),
        (RenderEnv, {"RENDER_RATES": "t4"}, "RENDER_RATES: 't4' is not NAME=USD_PER_HOUR"),
        (WorkerEnv, {"RENDER_WORKER_MODE": "both"}, "RENDER_WORKER_MODE: must be one of all, control, gpu, got 'both'"),
        (
            WorkerEnv,
            {"RENDER_HEALTH_PORT": "http"},
            "RENDER_HEALTH_PORT: must be a whole number ≥ 0 and ≤ 65535, got 'http'",
        ),
        (
            RenderEnv,
            {"RENDER_CHANNEL_WEIGHTS": "news=4,kids=0"},
            "RENDER_CHANNEL_WEIGHTS: 'kids=0' is not CHANNEL=NUMBER with a number > 0",
        ),
        (
            RenderEnv,
            {"RENDER_KEPT_CHANNEL_GB": "news=-1"},
            "RENDER_KEPT_CHANNEL_GB: 'news=-1' is not CHANNEL=NUMBER with a number > 0",
        ),
        (RenderEnv, {"RENDER_DISK_MIN_FREE_MB": "lots"}, "RENDER_DISK_MIN_FREE_MB: must be a number ≥ 0, got 'lots'"),
        (
            ChannelEnv,
            {"RENDER_CHANNEL_LIMITS": "news"},
            "RENDER_CHANNEL_LIMITS: 'news' is not CHANNEL=NUMBER with a number > 0",
        ),
        (
            ChannelEnv,
            {"RENDER_CHANNEL_LIMITS": "news=2.5"},
            "RENDER_CHANNEL_LIMITS: news=2.5 is not a whole number of videos",
        ),
        (LogEnv, {"RENDER_LOG_FORMAT": "xml"}, "RENDER_LOG_FORMAT: must be one of console, json, got 'xml'"),
        (
            DeploymentEnv,
            {"RENDER_DEPLOYMENT_NAME": "render.video"},
            "RENDER_DEPLOYMENT_NAME: must be 1 to 200 letters, digits, '-' or '_', got 'render.video'",
        ),
        (
            DeploymentEnv,
            {"RENDER_BUILD_ID": "2.0 beta"},
            "RENDER_BUILD_ID: must be 1 to 200 letters, digits, '.', '_', '+' or '-', got '2.0 beta'",
        ),
        (
            DeploymentEnv,
            {"RENDER_DEPLOYMENT_CURRENT": "always"},
            "RENDER_DEPLOYMENT_CURRENT: must be one of if-none, never, got 'always'",
        ),
        (
            DeploymentEnv,
            {"RENDER_DRAIN_CHECK_SECONDS": "0"},
            "RENDER_DRAIN_CHECK_SECONDS: must be a number > 0, got '0'",
        ),
    ],
)
def test_a_bad_value_names_the_variable_and_what_it_accepts(model: type, env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as err:
        load(model, env)
    assert str(err.value) == message
    assert err.value.variable == message.partition(":")[0]


def test_a_build_id_is_the_version_and_a_hash_of_the_worker_source(tmp_path: Path) -> None:
    for package in SOURCE_PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "a.py").write_text(f"# {package}\n")
    first = source_build_id(tmp_path)
    assert load(DeploymentEnv, {"RENDER_BUILD_ID": first}).build_id == first  # a valid build id as it stands
    assert first.rpartition("+")[0] == importlib.metadata.version("render-service")
    source_build_id.cache_clear()
    assert source_build_id(tmp_path) == first  # the same tree, the same build
    (tmp_path / "workflows" / "a.py").write_text("# changed\n")
    source_build_id.cache_clear()
    assert source_build_id(tmp_path) != first  # one changed byte, another build
    env = load(DeploymentEnv, {})
    assert (env.deployment_name, env.build_id, env.deployment_current, env.exit_when_drained) == (
        "render", None, "if-none", False,
    )  # fmt: skip
    assert Build.from_env(env) == Build("render", source_build_id())


def test_channel_maps_read_names_with_a_catch_all() -> None:
    settings = render_settings({"RENDER_CHANNEL_WEIGHTS": " news = 4 , *=0.5,a=b=2"})
    assert settings.render.channel_weights == {"news": 4.0, "*": 0.5, "a=b": 2.0}
    assert load(ChannelEnv, {"RENDER_CHANNEL_LIMITS": "news=3,*=10"}).limits() == {"news": 3, "*": 10}
    assert load(ChannelEnv, {}).limits() == {}


def test_defaults_are_the_documented_ones(tmp_path: Path) -> None:
    worker = load(WorkerEnv, {})
    assert (worker.worker_mode, worker.slots, worker.control_slots, worker.drain_seconds) == ("all", 0, 8, 60.0)
    assert (worker.gpu_class, worker.sessions_per_gpu, worker.health_port, worker.health_address) == (
        None, 3, 9464, "127.0.0.1",
    )  # fmt: skip
    target = TemporalTarget.from_env({})
    assert target == TemporalTarget("localhost:7233", "default", None, False, "http://localhost:8233")
    assert TemporalTarget.from_env({"TEMPORAL_API_KEY": "k"}).tls
    assert not TemporalTarget.from_env({"TEMPORAL_API_KEY": "k", "TEMPORAL_TLS": "false"}).tls
    settings = render_settings({"RENDER_DATA_DIR": str(tmp_path), "RENDER_WORK_MAX_AGE_HOURS": "1"})
    assert settings.storage.work_uri == file_uri(tmp_path / "work")
    assert settings.storage.output_roots == (file_uri(tmp_path / "output"),)
    assert settings.storage.scratch_dir == tmp_path / "scratch"
    render = settings.render
    assert (render.encoder, settings.speech.engine, render.segment_seconds, render.heartbeat_seconds) == (
        "auto", "auto", 2.0, 30.0,
    )  # fmt: skip
    assert settings.limits.work_max_age_seconds == 3600
    assert (settings.speech.channels, settings.speech.timeout_seconds, settings.speech.attempts) == ({}, 20.0, 3)
    polly = settings.speech.polly
    assert (polly.endpoint_url, polly.region, polly.engine) == (None, None, "neural")
    assert settings.speech.google.url == "https://texttospeech.googleapis.com"
    voices = render_settings(
        {"RENDER_TTS_CHANNELS": " kids = polly , news=google", "RENDER_GOOGLE_TTS_API_KEY": "secret-key"}
    )
    assert voices.speech.channels == {"kids": "polly", "news": "google"}
    assert voices.speech.google.api_key == "secret-key" and "secret-key" not in repr(voices)
    assert "secret-key" not in repr(load(RenderEnv, {"RENDER_GOOGLE_TTS_API_KEY": "secret-key"}))
    assert settings.render.usd_per_hour["cpu"] == 0.04
    assert (settings.limits.kept_bytes, settings.limits.kept_channel_bytes) == (50 << 30, {"*": 10 << 30})
    assert (settings.limits.disk_min_free_bytes, settings.limits.disk_check_seconds) == (1 << 30, 5.0)
    bounded = render_settings(
        {"RENDER_KEPT_GB": "0", "RENDER_KEPT_CHANNEL_GB": "news=0.5", "RENDER_DISK_MIN_FREE_MB": "0"}
    )
    limits = bounded.limits
    assert (limits.kept_bytes, limits.kept_channel_bytes, limits.disk_min_free_bytes) == (0, {"news": 1 << 29}, 0)


def test_the_defaults_are_declared_once_in_the_engines_model(tmp_path: Path) -> None:
    """RenderEnv reads the environment into `Settings` itself: with nothing set, both are the model's defaults."""
    assert render_settings({}) == Settings()
    assert type(render_settings({})) is Settings
    env = {"RENDER_DATA_DIR": str(tmp_path), "RENDER_POLLY_REGION": "eu-west-1", "RENDER_WEBHOOKS": "false"}
    read = render_settings(env)
    assert read == Settings(storage=StorageSettings(data_dir=str(tmp_path))).replace(
        speech={"polly": {"region": "eu-west-1"}}, webhooks={"enabled": False}
    )
    variables = [variable.name for variable in RenderEnv.variables()]
    assert len(variables) == len(set(variables)) == 44
    assert {"RENDER_TTS", "RENDER_WEBHOOKS", "RENDER_GOOGLE_TTS_URL", "RENDER_S3_REGION"} <= set(variables)


def test_settings_are_frozen_and_a_replaced_copy_is_validated() -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.render.encoder = "libx264"
    with pytest.raises(ValidationError):
        settings.replace(render={"encoder": "nvenc"})
    changed = settings.replace(limits={"kept_gb": 1}, speech={"channels": "news=polly"})
    assert (changed.limits.kept_bytes, changed.speech.channels) == (1 << 30, {"news": "polly"})
    assert settings.limits.kept_bytes == 50 << 30


def test_the_autoscaler_environment_lists_every_knob() -> None:
    assert set(AutoscalerEnv.KNOB_FIELDS) == {*KNOBS, *POLICY_KNOBS}


@pytest.mark.server
def test_the_worker_refuses_a_bad_value_in_one_line() -> None:
    env = {"PATH": "/usr/bin:/bin", "RENDER_SLOTS": "two"}
    done = subprocess.run(
        [sys.executable, "-m", "workers"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr == "render-worker: RENDER_SLOTS: must be a whole number ≥ 0, got 'two'\n"
