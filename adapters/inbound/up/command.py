"""`orderhex up`: the microservices topology of the Procfile on this machine (the embedded etcd and
broker, one `orderhex serve` process per service each with its `orderhex sidecar`, the gateway), or
with --monolith the same services in one process, for comparison. Every process shares the data
directory, the Kafka broker, the registry and one admin token. `--instances payments=2` runs two
copies of a service and its sidecar (procfile.with_instances)."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from adapters.inbound.up.procfile import Process, ProcfileError, read_procfile, with_instances
from adapters.inbound.up.supervisor import Supervisor

MONOLITH_PORT = 8000


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--procfile", default="Procfile", help="the Procfile to run (default ./Procfile)")
    parser.add_argument("--monolith", action="store_true",
                        help="the broker and ONE process running every service, instead of one per service")
    parser.add_argument("--port", type=int, default=MONOLITH_PORT, help="with --monolith: its port (default 8000)")
    parser.add_argument("--instances", type=_instances, action="append", default=[], metavar="SERVICE=N",
                        help="run N copies of a service and its sidecar (ports + 100 each), e.g. payments=2")


MAX_INSTANCES = 9


def _instances(raw: str) -> tuple[str, int]:
    name, _, count = raw.partition("=")
    if not name or not count.isdigit() or not 1 <= int(count) <= MAX_INSTANCES:
        raise argparse.ArgumentTypeError(f"{raw!r}: expected SERVICE=N with N from 1 to {MAX_INSTANCES}, "
                                         "like payments=2")
    return name, int(count)


def shared_store(_service: str, _copy: int) -> dict[str, str]:
    """Every copy of a service works on the service's one store (database per service, not per
    instance: two copies with stores of their own would keep two diverging sets of accounts or
    stock). SQLite in WAL mode takes several processes; one copy relays its outbox and runs its
    saga timers (the others find the lock beside the store held and stand by)."""
    return {}


def run(args: argparse.Namespace, config: Any) -> int:
    if args.monolith:
        processes = [Process("broker", "orderhex broker run"),
                     Process("monolith", f"orderhex serve --port {args.port}")]
    token = config["api.admin_token"] or secrets.token_urlsafe(24)
    # An in-memory registry is one process's: across processes it is etcd (or a static list).
    registry = "static" if config["registry.adapter"] == "static" else "etcd"
    env = {**os.environ, "ORDERHEX_DATA_DIR": str(config.data_dir), "ORDERHEX_MESSAGING__ADAPTER": "kafka",
           "ORDERHEX_MESSAGING__BOOTSTRAP_SERVERS": config["messaging.bootstrap_servers"],
           "ORDERHEX_REGISTRY__ADAPTER": registry, "ORDERHEX_REGISTRY__URL": config["registry.url"],
           "ORDERHEX_API__ADMIN_TOKEN": token, "PYTHONUNBUFFERED": "1"}
    if not args.monolith:
        try:
            processes = with_instances(read_procfile(Path(args.procfile)), dict(args.instances), env,
                                       shared_store)
        except ProcfileError as exc:
            print(f"orderhex up: {exc}", file=sys.stderr)
            return 2
    # The processes run the `orderhex` of this interpreter, wherever the shell's PATH points.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    supervisor = Supervisor(processes, env)
    supervisor.say("up", f"data in {config.data_dir}; admin token for every service: {token}")
    return supervisor.run()
