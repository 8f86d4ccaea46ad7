"""`render-worker --mode all|control|gpu`: poll the queues until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import signal
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta

import structlog
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import VersioningBehavior
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError
from temporalio.worker import Interceptor, PollerBehaviorSimpleMaximum, Worker, WorkerDeploymentConfig

from activities.assemble import AssembleActivities
from activities.audio import AudioActivities
from activities.narration import NarrationActivities
from activities.notify import NotifyActivities, WebhookPolicy
from activities.queues import QueueActivities
from activities.render import RenderActivities
from activities.validate import ValidateActivities
from contracts import names, search
from contracts.gpus import GPU_CLASSES, render_queue
from engine import metrics
from engine.deps import Deps
from engine.media.encoder import NVENC, choose_encoder, encoder_works
from engine.retention import sweeping
from engine.scratch import sweep_stale
from engine.settings import Settings
from engine.storage import file_path
from runtime.connection import TemporalTarget, Unreachable
from runtime.farm import FarmMismatch, note_quarantine
from runtime.logs import configure_logging
from runtime.process import exit_now, free_port, settings_or_exit
from runtime.settings import WORKER_MODES, DeploymentEnv, LogEnv, WorkerEnv, load, render_settings
from runtime.tracing import flush_traces, tracing_interceptor
from runtime.versioning import Build, adopt_if_none, source_build_id, stop_when_drained
from workers.disk import DiskGuard, Pausable
from workers.farm import join_farm
from workers.gpus import Gpu, discover_gpus
from workers.health import HealthServer, WorkerState
from workers.kept import video_states
from workers.quarantine import EXIT_QUARANTINED, Quarantine
from workers.telemetry import OperatorInterceptor
from workflows import NotifyWebhook, RenderVideo

log = structlog.get_logger(__name__)
MODES = WORKER_MODES
ENVIRONMENT = """\
Temporal connection (the `temporal` CLI's own configuration):
  TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS,
  TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH, TEMPORAL_TLS_SERVER_CA_CERT_PATH,
  TEMPORAL_TLS_SERVER_NAME, TEMPORAL_PROFILE and TEMPORAL_CONFIG_FILE (profiles in a TOML file)
Storage and media:
  RENDER_DATA_DIR, RENDER_WORK_URI, RENDER_OUTPUT_ROOTS, RENDER_ASSET_ROOTS, RENDER_SCRATCH_DIR,
  RENDER_S3_ENDPOINT_URL, RENDER_S3_REGION, RENDER_ENCODER, RENDER_FFMPEG_THREADS, RENDER_SEGMENT_SECONDS,
  RENDER_TTS, RENDER_FONT, RENDER_FONT_BOLD
Deployment (Worker Versioning; docs/deploys.md):
  RENDER_DEPLOYMENT_NAME, RENDER_BUILD_ID, RENDER_DEPLOYMENT_CURRENT (if-none|never),
  RENDER_EXIT_WHEN_DRAINED, RENDER_DRAIN_CHECK_SECONDS
Operation:
  RENDER_HEARTBEAT_SECONDS, RENDER_QUEUE_WAIT_SECONDS, RENDER_WORK_MAX_AGE_HOURS,
  RENDER_SWEEP_INTERVAL_SECONDS, RENDER_KEPT_GB, RENDER_KEPT_CHANNEL_GB, RENDER_DISK_MIN_FREE_MB,
  RENDER_DISK_CHECK_SECONDS, RENDER_SCRATCH_LIMIT_GB, RENDER_HEALTH_ADDRESS, RENDER_RATES, RENDER_WEBHOOK_SECRET,
  RENDER_QUARANTINE_AFTER, RENDER_QUARANTINE_LINGER_SECONDS,
  RENDER_LOG_FORMAT (console|json), RENDER_LOG_LEVEL
Options override their variables. The README's Configuration table gives each default and meaning.
Exit status: 0 stopped cleanly, 2 bad configuration (named on stderr; settings that differ from the farm's
record included: `render farm` shows it), 3 Temporal unreachable, 4 quarantined itself, 1 a fault.
"""
HEARTBEAT_THROTTLE = timedelta(seconds=2)
FFMPEG_PER_NVENC_GPU = 3
"""The trivia farm's measured sweet spot on T4s."""
CONTROL_ACTIVITY_POLLS = 2
"""Activity polls a control worker keeps open (the SDK's default is 5). A frozen worker's open polls are still
handed tasks, each costing an attempt and a heartbeat timeout: with two, a control worker frozen mid-activity
took 2 more attempts instead of 5, and its video completed on attempt 4, 19-28 s after the freeze, instead of
attempt 6-7 and 57-83 s (tests/test_frozen_control.py, 3 s heartbeat timeout). Control tasks are few and
short; two polls keep up with the 200-video load test (113 s, 109 s with five)."""


@dataclass(frozen=True)
class WorkerOptions:
    mode: str = "all"
    render_slots: int = 0
    """Concurrent clip renders; 0 = `per_gpu` per NVENC GPU, else one per CPU core."""
    control_slots: int = 8
    drain_seconds: float = 60.0
    """On SIGTERM, how long running activities get before they are cancelled and retried elsewhere."""
    gpu_class: str | None = None
    """Poll render-gpu-<class> instead of render-gpu: this worker serves jobs that ask for its class."""
    per_gpu: int = FFMPEG_PER_NVENC_GPU
    health_port: int = 9464
    """/healthz, /readyz, /status, /metrics; 0 turns the server off."""
    health_address: str = "127.0.0.1"
    """Loopback unless configured (Kubernetes sets 0.0.0.0: the kubelet probes the pod IP)."""
    health_max_connections: int = 32
    health_timeout_seconds: float = 5.0
    status_detail: str = "full"
    deployment_name: str = "render"
    build_id: str | None = None
    """None: the package version and a hash of the worker's source (runtime.versioning.source_build_id)."""
    deployment_current: str = "if-none"
    """`if-none`: make this build current when the deployment has never had a current version; `never`."""
    exit_when_drained: bool = False
    """Leave once this version is neither current nor ramping and none of its videos runs."""
    drain_check_seconds: float = 30.0
    quarantine_after: int = 3
    """The worker's own failures in a row after which it quarantines itself (workers/quarantine.py); 0: never."""
    quarantine_linger_seconds: float = 60.0

    @property
    def build(self) -> Build:
        return Build(self.deployment_name, self.build_id or source_build_id())


def deployment_config(build: Build) -> WorkerDeploymentConfig:
    """Join `build`'s Worker Deployment Version. Workflows default to pinned: RenderVideo and NotifyWebhook
    finish on the build that started them, and their activities run on that build's workers too
    (runtime.versioning says why, with the measurement)."""
    return WorkerDeploymentConfig(
        version=build.version, use_worker_versioning=True, default_versioning_behavior=VersioningBehavior.PINNED
    )


class WorkerConfigError(RuntimeError):
    pass


async def default_render_slots(gpus: list[Gpu], per_gpu: int) -> int:
    if gpus and await encoder_works(NVENC):
        return per_gpu * len(gpus)
    return os.cpu_count() or 1


def task_queues(options: WorkerOptions) -> list[str]:
    control = [names.CONTROL_QUEUE] if options.mode in ("all", "control") else []
    return control + ([render_queue(options.gpu_class)] if options.mode in ("all", "gpu") else [])


def check_webhook_secret(settings: Settings) -> None:
    """Control workers sign every webhook: with webhooks on, an empty key would sign nothing."""
    if settings.webhooks.enabled and not settings.webhooks.secret:
        raise WorkerConfigError(
            "RENDER_WEBHOOK_SECRET is empty: control workers sign webhooks with it; set it, or RENDER_WEBHOOKS=false"
        )


async def check_search_attributes(client: Client) -> None:
    """Refuse to run workflows that would fail to upsert unregistered search attributes."""
    try:
        registered = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
    except RPCError as err:
        log.warning("cannot list search attributes; assuming they are registered", reason=err.message)
        return
    missing = {n: t for n, t in search.cli_definitions().items() if n not in registered.custom_attributes}
    if missing:
        commands = "; ".join(
            f"temporal operator search-attribute create --name {n} --type {t}" for n, t in missing.items()
        )
        raise WorkerConfigError(f"search attributes not registered in namespace {client.namespace!r}: {commands}")


async def check_farm(client: Client, build: Build | None, settings: Settings) -> None:
    """Refuse to start, naming each difference, when this worker's farm settings differ from its farm's record."""
    try:
        await join_farm(client, build, settings)
    except FarmMismatch as err:
        raise WorkerConfigError(str(err)) from None
    except RPCError as err:  # a namespace where this worker may not keep schedules: said, not fatal
        log.warning("cannot read or write the farm record; this worker's settings are not checked against the "
                    "farm's", reason=err.message)  # fmt: skip


def interceptors(
    settings: Settings, tracing: TracingInterceptor | None, quarantine: Quarantine | None = None
) -> list[Interceptor]:
    """Tracing outermost (its span is current inside), then the per-channel metrics, then the failure count."""
    channels = metrics.Channels([*settings.render.channel_weights, *settings.speech.channels])
    watch = [quarantine.interceptor()] if quarantine else []
    return [*([tracing] if tracing else []), OperatorInterceptor(channels), *watch]


async def build_workers(
    client: Client,
    options: WorkerOptions,
    deps: Deps,
    gpus: list[Gpu] | None = None,
    tracing: TracingInterceptor | None = None,
    quarantine: Quarantine | None = None,
) -> list[Worker]:
    """The workers `options` asks for; `tracing` defaults to what OTEL_EXPORTER_OTLP_ENDPOINT configures;
    `quarantine` counts the worker's own failures (none: never quarantined, as in tests and the demo)."""
    if options.mode not in MODES:
        raise WorkerConfigError(f"mode must be one of {', '.join(MODES)}, got {options.mode!r}")
    if options.gpu_class is not None and options.gpu_class not in GPU_CLASSES:
        raise WorkerConfigError(f"RENDER_GPU_CLASS: unknown class {options.gpu_class!r} (known: {sorted(GPU_CLASSES)})")
    drain = timedelta(seconds=options.drain_seconds)
    build = options.build
    versioned = deployment_config(build)
    intercept = interceptors(deps.settings, tracing or tracing_interceptor(), quarantine)
    workers = []
    if options.mode in ("all", "control"):
        check_webhook_secret(deps.settings)
        await check_search_attributes(client)
        assemble = AssembleActivities(deps)
        validate = ValidateActivities(
            deps,
            deps.settings.limits.budget,
            WebhookPolicy(deps.settings.webhooks.hosts, deps.settings.webhooks.allow_loopback),
        )
        workers.append(
            Worker(
                client,
                task_queue=names.CONTROL_QUEUE,
                workflows=[RenderVideo, NotifyWebhook],
                activities=[
                    assemble.check_job,
                    assemble.concat_clips,
                    AudioActivities(deps).build_audio,
                    assemble.upload_video,
                    assemble.discard_intermediates,
                    NotifyActivities(
                        deps.settings.webhooks.secret,
                        WebhookPolicy(deps.settings.webhooks.hosts, deps.settings.webhooks.allow_loopback),
                        enabled=deps.settings.webhooks.enabled,
                    ).notify_webhook,
                    validate.validate_job,
                    validate.clip_tickets,
                    QueueActivities(build.build_id).queue_has_workers,
                ],
                deployment_config=versioned,
                max_concurrent_activities=options.control_slots,
                activity_task_poller_behavior=PollerBehaviorSimpleMaximum(CONTROL_ACTIVITY_POLLS),
                interceptors=intercept,
                graceful_shutdown_timeout=drain,
                # A cancel reaches concat and upload through a heartbeat: no later than this.
                max_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
                default_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
            )
        )
    if options.mode in ("all", "gpu"):
        gpus = discover_gpus() if gpus is None else gpus
        slots = options.render_slots or await default_render_slots(gpus, options.per_gpu)
        queue = render_queue(options.gpu_class)
        workers.append(
            Worker(
                client,
                task_queue=queue,
                activities=[RenderActivities(deps, gpus=len(gpus)).render_clip, NarrationActivities(deps).narrate],
                deployment_config=versioned,
                max_concurrent_activities=slots,
                interceptors=intercept,
                graceful_shutdown_timeout=drain,
                # Heartbeats carry checkpoints and bring back cancellation: send them
                # at least this often rather than at 80 % of the heartbeat timeout.
                max_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
                default_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
            )
        )
        log.info("render worker ready", queue=queue, slots=slots, gpus=len(gpus), build_id=build.build_id)
    return workers


def worker_build(worker: Worker) -> Build | None:
    """The Worker Deployment Version `worker` joins, if it is versioned."""
    config = worker.config().get("deployment_config")
    if config is None or not config.use_worker_versioning:
        return None
    return Build(config.version.deployment_name, config.version.build_id)


def _log_failure(task: asyncio.Future[object]) -> None:
    """A versioning helper that failed is said at once (the workers go on polling regardless)."""
    if not task.cancelled() and (err := task.exception()) is not None:
        log.error("worker versioning step failed", reason=str(err), kind=type(err).__name__)


async def run_until_stopped(
    workers: list[Worker],
    stop: asyncio.Event,
    state: WorkerState | None = None,
    *,
    adopt: bool = True,
    drained_check_seconds: float | None = None,
    guard: DiskGuard | None = None,
) -> None:
    """Run the workers until `stop` is set (or one dies), then drain them.

    `adopt`: once polling, make the workers' version current if their deployment never had one
    (runtime.versioning.adopt_if_none). `drained_check_seconds`: also stop once the version has drained.
    `guard`: the workers stop polling while a disk is low and start again when there is room (workers.disk).
    """
    runners: list[Worker | Pausable] = list(workers)
    helpers: list[asyncio.Future[object]] = []
    if guard is not None and guard.enabled:
        if state:
            guard.on_change = lambda reason: setattr(state, "paused", reason)
        await guard.check_soon()  # a worker started on a full disk never polls
        runners = [Pausable(w, guard) for w in workers]
        helpers.append(asyncio.ensure_future(guard.watch()))
    runs = [asyncio.ensure_future(w.run()) for w in runners]
    stopper = asyncio.ensure_future(stop.wait())
    build = worker_build(workers[0]) if workers else None
    if build is not None and adopt:
        helpers.append(asyncio.ensure_future(adopt_if_none(workers[0].client, build)))
    if build is not None and drained_check_seconds:
        helpers.append(asyncio.ensure_future(stop_when_drained(workers[0].client, build, stop, drained_check_seconds)))
    for helper in helpers:
        helper.add_done_callback(_log_failure)
    if state:
        state.ready = True
    done, _ = await asyncio.wait([*runs, stopper], return_when=asyncio.FIRST_COMPLETED)
    if state:
        state.ready = False
    for helper in helpers:
        helper.cancel()
    await asyncio.gather(*(w.shutdown() for w in runners))
    await asyncio.gather(*helpers, return_exceptions=True)
    stopper.cancel()
    for run in runs:
        if run in done and run.exception():
            raise run.exception()  # type: ignore[misc]


def sdk_runtime() -> tuple[Runtime, str]:
    """A runtime exporting the SDK's metrics on a loopback port, for /metrics to relay."""
    port = free_port()
    buckets = {m.name: list(m.buckets) for m in metrics.VIDEO_METRICS if m.buckets}
    telemetry = TelemetryConfig(
        metrics=PrometheusConfig(bind_address=f"127.0.0.1:{port}", histogram_bucket_overrides=buckets)
    )
    return Runtime(telemetry=telemetry), f"http://127.0.0.1:{port}/metrics"


async def serve(options: WorkerOptions, target: TemporalTarget, settings: Settings) -> int:
    if options.mode in ("all", "control"):
        check_webhook_secret(settings)  # before connecting: a misconfiguration, said in one line
    stale = await asyncio.to_thread(sweep_stale, settings.storage.scratch_dir)
    if stale:
        log.info("removed scratch left by dead workers", directories=[p.name for p in stale])
    runtime, sdk_metrics_url = sdk_runtime()
    metrics.watch_disk(settings.storage.scratch_dir)
    if settings.storage.work_uri.startswith("file://"):
        metrics.watch_work_disk(file_path(settings.storage.work_uri))
    guard = DiskGuard.for_settings(settings)
    client = await target.connect(runtime=runtime)
    await check_farm(client, options.build, settings)
    gpus = discover_gpus() if options.mode in ("all", "gpu") else []
    options = dataclasses.replace(
        options, render_slots=options.render_slots or await default_render_slots(gpus, options.per_gpu)
    )
    stop = asyncio.Event()
    leave = asyncio.Event()
    """Set by SIGTERM or SIGINT: ends a quarantined worker's linger too."""

    async def quarantined(reason: str) -> None:
        state.quarantined, state.ready = reason, False
        stop.set()
        try:
            await note_quarantine(client, options.build.key, reason)
        except Exception as err:  # the note is for people; the worker leaves all the same
            log.warning("could not note the quarantine in Temporal", reason=str(err))

    quarantine = Quarantine(options.quarantine_after, settings, quarantined)
    workers = await build_workers(client, options, Deps.from_settings(settings), gpus, quarantine=quarantine)
    state = WorkerState(
        mode=options.mode,
        task_queues=task_queues(options),
        render_slots=options.render_slots,
        encoder=await choose_encoder(settings.render.encoder),
        gpus=gpus,
        sdk_metrics_url=sdk_metrics_url,
        status_detail=options.status_detail,
        version=options.build.key,
    )

    def signalled() -> None:
        stop.set()
        leave.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, signalled)
    with ExitStack() as stack:
        if options.health_port:
            health = stack.enter_context(
                HealthServer(state, options.health_address, options.health_port,
                             max_connections=options.health_max_connections,
                             timeout_seconds=options.health_timeout_seconds)
            )  # fmt: skip
            log.info("health server listening", port=health.port)
        log.info("worker started", mode=options.mode, queues=state.task_queues, address=target.address,
                 deployment=options.deployment_name, build_id=options.build.build_id)  # fmt: skip
        # Control workers remove intermediates older than RENDER_WORK_MAX_AGE_HOURS in the background, keep what
        # stopped videos hold within its bounds, and free a low file:// work store when the disk guard says so.
        sweep_every = settings.limits.sweep_interval_seconds if options.mode in ("all", "control") else 0
        sweeper = sweeping(
            Deps.from_settings(settings),
            sweep_every,
            settings.limits.work_max_age_seconds,
            state_of=video_states(client),
            pressure=guard.pressure,
        )
        async with sweeper:
            await run_until_stopped(
                workers,
                stop,
                state,
                adopt=options.deployment_current == "if-none",
                drained_check_seconds=options.drain_check_seconds if options.exit_when_drained else None,
                guard=guard,
            )
            if quarantine.reason is not None:
                log.info("quarantined: polling stopped; staying up for its metrics and /status, then exiting",
                         seconds=options.quarantine_linger_seconds)  # fmt: skip
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(leave.wait(), timeout=options.quarantine_linger_seconds)
    flush_traces()
    if quarantine.reason is not None:
        log.error("worker quarantined itself; exiting", reason=quarantine.reason, status=EXIT_QUARANTINED)
        return EXIT_QUARANTINED
    log.info("worker stopped")
    return 0


def main(argv: list[str] | None = None) -> None:
    with settings_or_exit("render-worker"):
        env = load(WorkerEnv)
        deployment = load(DeploymentEnv)
        logs = load(LogEnv)
        target = TemporalTarget.from_env()
        settings = render_settings()
    parser = argparse.ArgumentParser(
        prog="render-worker",
        description=__doc__,
        epilog=ENVIRONMENT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--mode",
        choices=MODES,
        default=env.worker_mode,
        help="all: every queue; control: workflows, checks, joins, uploads; gpu: clip renders "
        "(RENDER_WORKER_MODE, default %(default)s)",
    )
    parser.add_argument(
        "--render-slots",
        type=int,
        default=env.slots,
        metavar="N",
        help="concurrent clip renders; 0: 3 per NVENC GPU, else one per CPU core (RENDER_SLOTS, default %(default)s)",
    )
    parser.add_argument(
        "--control-slots",
        type=int,
        default=env.control_slots,
        metavar="N",
        help="concurrent control activities (RENDER_CONTROL_SLOTS, default %(default)s)",
    )
    parser.add_argument(
        "--drain-seconds",
        type=float,
        default=env.drain_seconds,
        metavar="S",
        help="on SIGTERM, how long running work gets before it is handed back "
        "(RENDER_DRAIN_SECONDS, default %(default)s)",
    )
    parser.add_argument(
        "--gpu-class",
        default=env.gpu_class,
        metavar="CLASS",
        help=f"serve jobs that ask for this GPU class: poll render-gpu-CLASS ({', '.join(GPU_CLASSES)}; "
        "RENDER_GPU_CLASS, default: render-gpu)",
    )
    parser.add_argument(
        "--per-gpu",
        type=int,
        default=env.sessions_per_gpu,
        metavar="N",
        help="ffmpeg processes per NVENC GPU when slots are 0 (RENDER_SESSIONS_PER_GPU, default %(default)s)",
    )
    parser.add_argument(
        "--health-port",
        type=int,
        default=env.health_port,
        metavar="PORT",
        help="/healthz, /readyz, /status, /metrics; 0: off (RENDER_HEALTH_PORT, default %(default)s)",
    )
    parser.add_argument(
        "--exit-when-drained",
        action=argparse.BooleanOptionalAction,
        default=deployment.exit_when_drained,
        help="leave (status 0) once this version is neither current nor ramping and none of its videos runs "
        "(RENDER_EXIT_WHEN_DRAINED, default %(default)s)",
    )
    args = parser.parse_args(argv)
    configure_logging(logs.log_format, logs.log_level or "INFO")
    options = WorkerOptions(
        args.mode, args.render_slots, args.control_slots, args.drain_seconds, args.gpu_class, args.per_gpu,
        args.health_port, env.health_address, env.health_max_connections, env.health_timeout_seconds,
        env.status_detail, deployment.deployment_name, deployment.build_id, deployment.deployment_current,
        args.exit_when_drained, deployment.drain_check_seconds, env.quarantine_after, env.quarantine_linger_seconds,
    )  # fmt: skip
    try:
        code = asyncio.run(serve(options, target, settings))
    except WorkerConfigError as err:
        log.error("worker not started", reason=str(err))
        code = 2
    except Unreachable as err:
        print(f"render-worker: {err}", file=sys.stderr)
        code = 3
    except Exception:
        log.exception("worker failed")
        code = 1
    exit_now(code)


if __name__ == "__main__":
    main()
