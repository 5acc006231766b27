"""`orderhex sidecar --for SERVICE --upstream URL [--port P]`: its arguments, and the process: the
keeper's thread (health checks, registration) and the proxy on aiohttp.web, until SIGTERM/SIGINT,
which deregisters the instance before the process ends."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit

from core.kernel.errors import Unavailable
from core.runtime.health import HealthBoard, HealthSettings
from ports.registry import InstanceRecord, ServiceRegistry
from ports.system import Clock

HELP = ("run beside one service instance: register it while healthy, check its API key or JWT, log and count its "
        "requests, serve its configuration at /config")
PORT_OFFSET = 1000  # the default port: the service's plus this (8003 -> 9003)
log = logging.getLogger("orderhex.sidecar")


def _upstream(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.port is None:
        raise argparse.ArgumentTypeError(f"{raw!r}: expected the service's base URL, like http://127.0.0.1:8003")
    return raw.rstrip("/")


def configure(parser: argparse.ArgumentParser, services: Sequence[str]) -> None:
    parser.add_argument("--for", dest="service", required=True, choices=services, help="the service it fronts")
    parser.add_argument("--upstream", required=True, type=_upstream,
                        help="the service instance's base URL, e.g. http://127.0.0.1:8003")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind and register (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help=f"port to bind (default the service's port + {PORT_OFFSET})")
    parser.add_argument("--instance-id", help="the instance's id in the registry (default HOST:PORT)")
    parser.add_argument("--log-format", choices=("auto", "json", "text"), help="default log.format")


@dataclass(frozen=True)
class Wiring:
    """What the composition root hands the sidecar."""

    registry: ServiceRegistry
    lease_factory: Any  # keeper.LeaseFactory
    clock: Clock
    config: Any  # the service's effective Config
    config_rows: Iterable[tuple[str, Any, str]]


def run(args: argparse.Namespace, wiring: Wiring) -> int:
    import httpx

    from adapters.inbound import logs
    from adapters.inbound.sidecar.keeper import Keeper, probe_ready
    from adapters.inbound.sidecar.proxy import Sidecar, SidecarSettings

    config = wiring.config
    logs.configure(args.log_format or config["log.format"], config["log.level"])
    port = args.port if args.port is not None else (urlsplit(args.upstream).port or 0) + PORT_OFFSET
    address = f"http://{args.host}:{port}"
    record = InstanceRecord(args.service, args.instance_id or f"{args.host}:{port}", address, _version(),
                            os.getpid(), datetime.now(UTC))
    keys = tuple(k for k in (config["sidecar.api_key"] or config["api.api_key"]).split(",") if k)
    settings = SidecarSettings(args.service, args.upstream, keys, upstream_key=config["api.api_key"],
                               admin_token=config["api.admin_token"],
                               jwt_key=config["sidecar.jwt_key"] or config["gateway.jwt_key"],
                               keepalive_seconds=max(0.5, config["api.keep_alive_s"] - 1))
    interval = config["health.interval_ms"] / 1000
    probe_client = httpx.Client(timeout=httpx.Timeout(config["health.timeout_ms"] / 1000))
    board = HealthBoard(wiring.clock, HealthSettings(fall=config["health.fall"], rise=config["health.rise"]))
    keeper = Keeper(record, config["registry.ttl_seconds"], wiring.lease_factory,
                    lambda: probe_ready(probe_client, args.upstream), board, interval=interval)

    def stop_process() -> None:
        # From a request handler: let the server finish this response, then shut down as on SIGTERM.
        threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGTERM)).start()

    app = Sidecar(settings, keeper, wiring.config_rows, on_stop=stop_process).app()
    if not (keys or settings.jwt_key):
        log.warning("no API key or JWT secret is set (sidecar.api_key, api.api_key, sidecar.jwt_key, "
                    "gateway.jwt_key): requests to %s pass unchecked",
                    args.service)
    log.info("sidecar for %s at %s fronts %s; registry: %s; health: GET %s/ready every %g s", args.service, address,
             args.upstream, wiring.registry.describe(), args.upstream, interval,
             extra={"service": args.service, "instance_id": record.instance_id})
    keeper.start()
    try:
        _serve(app, args.host, port)
    finally:
        keeper.stop()
        probe_client.close()
        wiring.registry.close()
    log.info("sidecar for %s stopped; %s deregistered", args.service, record.key)
    return 0


def _serve(app: Any, host: str, port: int) -> None:
    """Serves `app` until SIGTERM or SIGINT, then finishes the requests in flight (up to 10 s)."""
    from aiohttp import web

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=10)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port, backlog=1024).start()
        except OSError as exc:
            await runner.cleanup()
            raise Unavailable(f"the sidecar address {host}:{port}", exc.strerror or str(exc),
                              "choose another --port") from exc
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("sidecar stopping: finishing requests in flight")
        await runner.cleanup()

    try:
        import uvloop

        loop_runner: Any = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        loop_runner = asyncio.Runner()
    with loop_runner:
        loop_runner.run(main())


def _version() -> str:
    try:
        return metadata.version("orderhex")
    except metadata.PackageNotFoundError:
        return ""
