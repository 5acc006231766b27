"""The `serve` subcommand's arguments and entry point, kept free of FastAPI and uvicorn so that
every other `orderhex` command starts without loading them."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapters.inbound.rest.serve import WorkerFactory

HELP = "run the REST API and admin API, with the outbox relay (and Kafka intake) as workers"


LOG_FORMATS = ("auto", "json", "text")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--service", action="append", metavar="NAME",
                        help="run only this service (repeat for more): one process per service; default "
                             "deployment.services, all four (the monolith)")
    parser.add_argument("--host", help="address to bind (default api.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to bind (default api.port, 8000)")
    parser.add_argument("--log-format", choices=LOG_FORMATS, default=None,
                        help="log lines as JSON or text (default log.format, else auto: JSON unless stderr is a "
                             "terminal)")
    parser.add_argument("--log-level", default=None, choices=("debug", "info", "warning", "error"),
                        help="the least severe lines logged (default log.level, else info)")


def run(args: argparse.Namespace, app: Any, *, workers: Sequence[WorkerFactory] = ()) -> int:
    from adapters.inbound.rest import serve

    return serve.run(args, app, workers=workers)
