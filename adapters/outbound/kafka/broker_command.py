"""`orderhex broker status|stop|run`: the data directory's embedded Kafka broker (Tansu), which
outlives the orderhex processes that use it. `status` and `stop` never start one; `run` starts it
if none runs, stays in the foreground (a Procfile's broker line) and stops it on SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

from adapters.outbound.kafka.embedded import embedded_status, ensure_embedded, stop_embedded

HELP = "the embedded Kafka broker (Tansu) of the data directory: `status`, `stop` it, or `run` it in the foreground"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("status", "stop", "run"), help="status | stop | run")


def run(args: argparse.Namespace, data_dir: Path, out: TextIO | None = None) -> int:
    """Exit 0 when the broker runs (status) or was stopped (stop); 3 when none runs (status), like
    `systemctl status`; stop with none running is not an error."""
    out = out or sys.stdout
    if args.action == "run":
        return _run_in_foreground(data_dir, out)
    status = embedded_status(data_dir)
    if args.action == "status":
        _print(args, out, status.to_json(), _status_line(status.state, status.detail, status.directory))
        return 0 if status.state == "running" else 3
    was = status.to_json()
    stopped = stop_embedded(data_dir)
    if stopped:
        text = f"embedded broker stopped ({status.detail}; {status.directory})"
    elif status.state == "stale":
        text = f"no embedded broker stopped: {status.detail}; its stale record was removed"
    else:
        text = f"no embedded broker runs for {status.directory} ({status.detail})"
    _print(args, out, {"stopped": stopped, "was": was}, text)
    return 0


def _run_in_foreground(data_dir: Path, out: TextIO) -> int:
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        servers = ensure_embedded(data_dir)
        print(f"embedded broker runs at {servers} ({data_dir / 'tansu'}); SIGTERM or Ctrl-C stops it", file=out,
              flush=True)
        while not stop.wait(1.0):
            if not embedded_status(data_dir).running:
                print("embedded broker stopped by someone else", file=out, flush=True)
                return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    stop_embedded(data_dir)
    print("embedded broker stopped", file=out, flush=True)
    return 0


def _status_line(state: str, detail: str, directory: Path) -> str:
    return f"embedded broker {state}: {detail} ({directory})"


def _print(args: argparse.Namespace, out: TextIO, payload: dict[str, Any], text: str) -> None:
    print(json.dumps(payload, indent=2) if getattr(args, "json", False) else text, file=out)
