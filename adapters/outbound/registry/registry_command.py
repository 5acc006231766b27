"""`orderhex registry status|stop|run|list`: the data directory's embedded etcd (which outlives
the orderhex processes that use it), and what the configured registry lists. `status` and `stop`
never start one; `run` starts it if none runs, stays in the foreground (a Procfile's registry
line) and stops it on SIGTERM/SIGINT; `list` prints every live instance of every service."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from adapters.outbound.registry.embedded import embedded_status, ensure_embedded, etcd_directory, stop_embedded
from ports.registry import ServiceRegistry

HELP = "the service registry: `list` its instances; `status`, `stop` or `run` the embedded etcd of the data directory"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("status", "stop", "run", "list"), help="status | stop | run | list")


def run(args: argparse.Namespace, data_dir: Path, open_registry: Callable[[], ServiceRegistry],
        out: TextIO | None = None) -> int:
    """Exit 0 when etcd runs (status) or was stopped (stop); 3 when none runs (status), like
    `systemctl status`; stop with none running is not an error."""
    out = out or sys.stdout
    if args.action == "list":
        return _list(args, open_registry(), out)
    if args.action == "run":
        return _run_in_foreground(data_dir, out)
    status = embedded_status(data_dir)
    if args.action == "status":
        _print(args, out, status.to_json(), f"embedded etcd {status.state}: {status.detail} ({status.directory})")
        return 0 if status.state == "running" else 3
    was = status.to_json()
    stopped = stop_embedded(data_dir)
    if stopped:
        text = f"embedded etcd stopped ({status.detail}; {status.directory})"
    elif status.state == "stale":
        text = f"no embedded etcd stopped: {status.detail}; its stale record was removed"
    else:
        text = f"no embedded etcd runs for {status.directory} ({status.detail})"
    _print(args, out, {"stopped": stopped, "was": was}, text)
    return 0


def _list(args: argparse.Namespace, registry: ServiceRegistry, out: TextIO) -> int:
    try:
        found = {service: registry.instances(service) for service in registry.services()}
    finally:
        registry.close()
    if getattr(args, "json", False):
        print(json.dumps({s: [r.to_json() for r in records] for s, records in found.items()}, indent=2), file=out)
        return 0
    print(registry.describe(), file=out)
    for service, records in found.items():
        for r in records:
            print(f"  {service:<10} {r.instance_id:<24} {r.address:<26} pid {r.pid or '-':<7} "
                  f"version {r.version or '-'} since {r.started_at.isoformat(timespec='seconds')}", file=out)
    if not found:
        print("  no instances registered", file=out)
    return 0


def _run_in_foreground(data_dir: Path, out: TextIO) -> int:
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        url = ensure_embedded(data_dir)
        print(f"embedded etcd runs at {url} ({etcd_directory(data_dir)}); SIGTERM or Ctrl-C stops it", file=out,
              flush=True)
        while not stop.wait(1.0):
            if not embedded_status(data_dir).running:
                print("embedded etcd stopped by someone else", file=out, flush=True)
                return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    stop_embedded(data_dir)
    print("embedded etcd stopped", file=out, flush=True)
    return 0


def _print(args: argparse.Namespace, out: TextIO, payload: dict[str, Any], text: str) -> None:
    print(json.dumps(payload, indent=2) if getattr(args, "json", False) else text, file=out)
