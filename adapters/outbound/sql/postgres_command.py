"""`orderhex postgres status|stop`: the data directory's embedded PostgreSQL server
(`storage.url = "embedded"`). Never starts one."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from adapters.outbound.sql.embedded import postgres_status, stop_postgres

HELP = "the embedded PostgreSQL server of the data directory: `status`, or `stop` it"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("status", "stop"), help="status | stop")
    parser.add_argument("--force", action="store_true",
                        help="stop it even while orderhex processes use it (they get 'unavailable' until restarted)")


def run(args: argparse.Namespace, data_dir: Path, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """status: exit 0 when it runs, 3 when not; stop: 0 (also when none ran), 1 when processes
    still use it and --force was not given."""
    out, err = out or sys.stdout, err or sys.stderr
    directory = data_dir / "postgres"
    status = postgres_status(directory)
    if args.action == "status":
        _print(args, out, status.to_json(), f"embedded PostgreSQL {status.state}: {status.detail} ({directory})")
        return 0 if status.state == "running" else 3
    if status.state == "running" and status.users and not args.force:
        print(f"orderhex: embedded PostgreSQL in {directory} is in use by pid(s) "
              f"{', '.join(map(str, status.users))}: stop them first, or pass --force", file=err)
        return 1
    stopped = stop_postgres(directory)
    if stopped:
        text = f"embedded PostgreSQL stopped (was {status.detail}; {directory})"
    elif status.state == "stale":
        text = f"no embedded PostgreSQL stopped: {status.detail}; its stale postmaster.pid was removed"
    else:
        text = f"no embedded PostgreSQL runs in {directory} ({status.detail})"
    _print(args, out, {"stopped": stopped, "was": status.to_json()}, text)
    return 0


def _print(args: argparse.Namespace, out: TextIO, payload: dict[str, Any], text: str) -> None:
    print(json.dumps(payload, indent=2) if getattr(args, "json", False) else text, file=out)
