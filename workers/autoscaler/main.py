"""`render-autoscaler`: scale the GPU worker Deployments by their task queues' backlog until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from dataclasses import replace

import structlog
from kubernetes.client import AppsV1Api
from kubernetes.config import ConfigException

from runtime.connection import TemporalTarget, Unreachable
from runtime.logs import configure_logging
from runtime.process import exit_now, settings_or_exit
from runtime.settings import AutoscalerEnv, LogEnv, load
from workers.autoscaler.config import CONFIG_ENV, AutoscalerConfig, ConfigError, load_config
from workers.autoscaler.kube import KubeScaler, apps_api
from workers.autoscaler.loop import Autoscaler
from workers.autoscaler.metrics import Health, Metrics, serve_http
from workers.autoscaler.signals import TemporalSignals

log = structlog.get_logger(__name__)


async def serve(config: AutoscalerConfig, once: bool, target: TemporalTarget, apps: AppsV1Api) -> int:
    client = await target.connect()
    metrics, health = Metrics(), Health(config.interval_seconds)
    autoscaler = Autoscaler(config, TemporalSignals(client), KubeScaler(apps), metrics, health)
    if once:
        tick = await autoscaler.tick()
        return 1 if tick.error else 0
    server = serve_http(metrics, health, config.port, config.address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "serving /metrics and /healthz", address=config.address, port=server.server_address[1], temporal=target.address
    )
    await autoscaler.run(stop)
    server.shutdown()
    log.info("autoscaler stopped")
    return 0


def main(argv: list[str] | None = None) -> None:
    with settings_or_exit("render-autoscaler"):
        logs = load(LogEnv)
        target = TemporalTarget.from_env()
        config_file = load(AutoscalerEnv).config
    parser = argparse.ArgumentParser(prog="render-autoscaler", description=__doc__)
    parser.add_argument("--config", default=config_file, help=f"JSON or YAML file (${CONFIG_ENV})")
    parser.add_argument("--dry-run", action="store_true", help="log decisions, patch nothing")
    parser.add_argument("--once", action="store_true", help="one decision round, then exit (1 if it failed)")
    args = parser.parse_args(argv)
    configure_logging(logs.log_format, logs.log_level or "INFO")
    try:
        config = load_config(path=args.config)
    except ConfigError as err:
        log.error("bad autoscaler configuration", error=str(err))
        exit_now(2)
    if args.dry_run:
        config = replace(config, dry_run=True)
    try:
        apps = apps_api()
    except ConfigException as err:  # neither in a pod nor with a kubeconfig
        print(f"render-autoscaler: no Kubernetes configuration: {' '.join(str(err).split())}", file=sys.stderr)
        exit_now(2)
    try:
        code = asyncio.run(serve(config, args.once, target, apps))
    except Unreachable as err:
        print(f"render-autoscaler: {err}", file=sys.stderr)
        code = 3
    except Exception:
        log.exception("autoscaler failed")
        code = 1
    exit_now(code)
