"""`orderhex serve`: the REST app under uvicorn plus background workers (outbox relay, Kafka
intake) over one shared application, with a graceful SIGTERM.

On SIGTERM: stop accepting connections, end event streams, finish requests in flight, run the
app's shutdown, then stop each worker and exit 0, all within `api.shutdown_timeout` seconds of
the signal: a worker waiting for a broker that is down is interrupted (the relay's batch stays
in the outbox and is sent by the next relay).

Every line the process writes is a structured log line (adapters/inbound/logs.py): uvicorn's,
librdkafka's, the feed's and its own.
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any, Protocol, TextIO

import uvicorn

from adapters.inbound import logs
from adapters.inbound.rest.app import RestSettings, create_app
from adapters.inbound.rest.connections import http_protocol
from adapters.inbound.rest.security import generate_token
from core.kernel.errors import Unavailable
from ports.control import Control
from ports.orders import Ordering

log = logging.getLogger("orderhex.serve")


class BackgroundWorker(Protocol):
    """A worker `serve` runs beside the HTTP server. `stop(timeout)` returns within `timeout`
    seconds, True when the worker has ended."""

    def start(self) -> None: ...

    def stop(self, timeout: float) -> bool: ...


class ServedApp(Protocol):
    """What `serve` needs of the application: the services it runs and their inbound ports, Control,
    the configuration and the feed."""

    services: dict[str, Any]
    ordering: Ordering
    control: Control
    config: Any
    feed: Any


# Given the application, a worker to run, or None when this configuration does not want it.
WorkerFactory = Callable[[Any], BackgroundWorker | None]


class GracefulServer(uvicorn.Server):
    """uvicorn's server, except that a SIGTERM ends event streams at once and the process exits 0
    after the graceful shutdown, instead of re-raising the signal it caught."""

    def __init__(self, config: uvicorn.Config, stopping: threading.Event) -> None:
        super().__init__(config)
        self.stopping = stopping
        self.signalled_at: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.signalled_at is None:
            self.signalled_at = time.monotonic()
        self.stopping.set()
        super().handle_exit(sig, frame)
        # uvicorn re-raises caught signals after shutting down, which would end the process with
        # "killed by SIGTERM"; a shutdown that finished its work is a success.
        self._captured_signals.clear()


def run(args: argparse.Namespace, app: ServedApp, *, workers: Sequence[WorkerFactory] = (),
        err: TextIO | None = None) -> int:
    config = app.config
    logs.configure(getattr(args, "log_format", None) or _setting(config, "log.format", "auto"),
                   getattr(args, "log_level", None) or _setting(config, "log.level", "info"), stream=err)
    unsubscribe = logs.log_feed(app.feed)
    token = config["api.admin_token"]
    if not token:
        token = generate_token()
        # Said once, to whoever started the process; never logged again (the access log has no headers).
        log.warning("admin token (shown once; set api.admin_token to keep one): %s", token,
                    extra={"event": "admin_token_generated"})
    settings = RestSettings(admin_token=token, api_key=config["api.api_key"],
                            max_body_bytes=config["api.max_body_bytes"],
                            max_event_streams=config["api.max_event_streams"], event_replay=config["api.event_replay"])
    stopping = threading.Event()
    host = args.host or config["api.host"]
    port = config["api.port"] if args.port is None else args.port
    shutdown_timeout = float(config["api.shutdown_timeout"])
    server = GracefulServer(uvicorn.Config(
        create_app(_port(app, "orders"), app.control, settings, stopping, inventory=_port(app, "inventory"),
                   payments=_port(app, "payments"), shipping=_port(app, "shipping"),
                   **(app.rest_extras() if hasattr(app, "rest_extras") else {})),
        host=host,
        port=port,
        access_log=config["api.access_log"],
        timeout_graceful_shutdown=max(1, int(shutdown_timeout) - 2),  # leaves the workers their share
        http=http_protocol(config["api.header_timeout_s"]),  # uvicorn's own has no header timeout
        timeout_keep_alive=config["api.keep_alive_s"],
        limit_concurrency=config["api.max_connections"],
        lifespan="on",
        log_config=None,  # uvicorn's loggers propagate to the process's one handler, in its format
        log_level="info",
    ), stopping)
    running: list[BackgroundWorker] = []
    try:
        for factory in workers:
            worker = factory(app)
            if worker is not None:
                worker.start()
                running.append(worker)
                log.info("started %s", _name(worker), extra={"event": "worker_started", "worker": _name(worker)})
        log.info("serving http://%s:%s (pid %d)", host, port, os.getpid(),
                 extra={"event": "started", "role": "serve", "host": host, "port": port, "pid": os.getpid(),
                        "workers": [_name(w) for w in running]})
        try:
            server.run()
        except SystemExit as exc:  # uvicorn exits the process when it cannot bind or start
            raise Unavailable(f"the API address {host}:{port}", "uvicorn could not start there (its log says why)",
                              "choose another --port / api.port, or stop what holds this one") from exc
    finally:
        deadline = (server.signalled_at or time.monotonic()) + shutdown_timeout
        for worker in reversed(running):
            stopped_at = time.monotonic()
            clean = worker.stop(max(0.5, deadline - time.monotonic()))
            log.info("stopped %s", _name(worker), extra={"event": "worker_stopped", "worker": _name(worker),
                                                          "clean": bool(clean),
                                                          "stop_seconds": round(time.monotonic() - stopped_at, 3)})
        unsubscribe()
    return 0


def _setting(config: Any, key: str, default: str) -> str:
    try:
        return str(config[key])
    except (KeyError, TypeError):
        return default


def _name(worker: BackgroundWorker) -> str:
    return str(getattr(worker, "name", type(worker).__name__))


_PORT_OF = {"orders": "ordering", "inventory": "inventory", "payments": "payments", "shipping": "shipping"}


def _port(app: Any, service: str) -> Any:
    """The service's inbound port, or None when this process does not run it (no routes then)."""
    return getattr(app, _PORT_OF[service]) if service in app.services else None
