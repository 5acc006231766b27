"""`orderhex serve`: the REST app under uvicorn plus background workers (outbox relay, Kafka
intake) over one shared application, with a graceful SIGTERM.

On SIGTERM: stop accepting connections, end event streams, finish requests in flight, run the
app's shutdown, then stop each worker (the relay finishes its batch) and exit 0.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any, Protocol, TextIO

import uvicorn

from adapters.inbound.rest.app import RestSettings, create_app
from adapters.inbound.rest.security import generate_token
from core.kernel.errors import Unavailable
from ports.control import Control
from ports.orders import Ordering


class BackgroundWorker(Protocol):
    """A worker `serve` runs beside the HTTP server. `stop()` returns once its current batch is done."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class ServedApp(Protocol):
    """What `serve` needs of the application: the two inbound ports and the configuration."""

    ordering: Ordering
    control: Control
    config: Any


# Given the application, a worker to run, or None when this configuration does not want it.
WorkerFactory = Callable[[Any], BackgroundWorker | None]


class GracefulServer(uvicorn.Server):
    """uvicorn's server, except that a SIGTERM ends event streams at once and the process exits 0
    after the graceful shutdown, instead of re-raising the signal it caught."""

    def __init__(self, config: uvicorn.Config, stopping: threading.Event) -> None:
        super().__init__(config)
        self.stopping = stopping

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.stopping.set()
        super().handle_exit(sig, frame)
        # uvicorn re-raises caught signals after shutting down, which would end the process with
        # "killed by SIGTERM"; a shutdown that finished its work is a success.
        self._captured_signals.clear()


def run(args: argparse.Namespace, app: ServedApp, *, workers: Sequence[WorkerFactory] = (),
        err: TextIO | None = None) -> int:
    err = err or sys.stderr
    config = app.config
    token = config["api.admin_token"]
    if not token:
        token = generate_token()
        print(f"orderhex serve: admin token (shown once; set api.admin_token to keep one): {token}",
              file=err, flush=True)
    settings = RestSettings(admin_token=token, api_key=config["api.api_key"],
                            max_body_bytes=config["api.max_body_bytes"])
    stopping = threading.Event()
    host = args.host or config["api.host"]
    port = config["api.port"] if args.port is None else args.port
    server = GracefulServer(uvicorn.Config(
        create_app(app.ordering, app.control, settings, stopping),
        host=host,
        port=port,
        access_log=config["api.access_log"],
        timeout_graceful_shutdown=config["api.shutdown_timeout"],
        lifespan="on",
        log_level="info",
    ), stopping)
    running: list[BackgroundWorker] = []
    try:
        for factory in workers:
            worker = factory(app)
            if worker is not None:
                worker.start()
                running.append(worker)
                print(f"orderhex serve: started {_name(worker)}", file=err, flush=True)
        try:
            server.run()
        except SystemExit as exc:  # uvicorn exits the process when it cannot bind or start
            raise Unavailable(f"the API address {host}:{port}", "uvicorn could not start there (its log says why)",
                              "choose another --port / api.port, or stop what holds this one") from exc
    finally:
        for worker in reversed(running):
            worker.stop()
            print(f"orderhex serve: stopped {_name(worker)}", file=err, flush=True)
    return 0


def _name(worker: BackgroundWorker) -> str:
    return str(getattr(worker, "name", type(worker).__name__))
