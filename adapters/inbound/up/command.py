"""`orderhex up`: the microservices topology of the Procfile on this machine (the embedded broker,
one `orderhex serve` process per service), or with --monolith the same services in one process,
for comparison. Every process shares the data directory, the Kafka broker and one admin token."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from adapters.inbound.up.procfile import Process, ProcfileError, read_procfile
from adapters.inbound.up.supervisor import Supervisor
from core.kernel.errors import ValidationError

MONOLITH_PORT = 8000


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--procfile", default="Procfile", help="the Procfile to run (default ./Procfile)")
    parser.add_argument("--monolith", action="store_true",
                        help="the broker and ONE process running every service, instead of one per service")
    parser.add_argument("--port", type=int, default=MONOLITH_PORT, help="with --monolith: its port (default 8000)")


def run(args: argparse.Namespace, config: Any) -> int:
    if args.monolith:
        processes = [Process("broker", "orderhex broker run"),
                     Process("monolith", f"orderhex serve --port {args.port}")]
    else:
        try:
            processes = read_procfile(Path(args.procfile))
        except ProcfileError as exc:
            raise ValidationError("--procfile", str(exc)) from exc
    token = config["api.admin_token"] or secrets.token_urlsafe(24)
    env = {**os.environ, "ORDERHEX_DATA_DIR": str(config.data_dir), "ORDERHEX_MESSAGING__ADAPTER": "kafka",
           "ORDERHEX_MESSAGING__BOOTSTRAP_SERVERS": config["messaging.bootstrap_servers"],
           "ORDERHEX_API__ADMIN_TOKEN": token, "PYTHONUNBUFFERED": "1"}
    # The processes run the `orderhex` of this interpreter, wherever the shell's PATH points.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    supervisor = Supervisor(processes, env)
    supervisor.say("up", f"data in {config.data_dir}; admin token for every service: {token}")
    return supervisor.run()
