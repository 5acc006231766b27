"""The `orderhex relay` and `orderhex consume` subcommands: long-running workers in the foreground."""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable
from typing import Any

from adapters.inbound.kafka.intake import CommandIntake
from adapters.inbound.workers.foreground import stop_on_signals
from adapters.inbound.workers.relay import RelayWorker
from core.kernel.errors import ValidationError


def configure_relay(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--until-empty", action="store_true",
                        help="exit once the outbox has no unpublished rows (default: run until SIGTERM/SIGINT)")


def run_relay(args: argparse.Namespace, app: Any, build: Callable[[Any], RelayWorker]) -> int:
    # The in-memory broker lives and dies with this process: rows marked published into it would
    # reach no one. In-process relays (serve, dashboard) may use it; this command may not.
    _require_a_real_broker(app, "orderhex relay publishes the outbox to a broker other processes read")
    worker = build(app)
    with stop_on_signals() as stop:
        worker.start()
        app.operations.attach_relay(worker)
        # The broker is named from config: it may be down now, which the relay rides out by backing off.
        print(f"orderhex: relay publishing {app.storage.describe()} -> {app.config['messaging.adapter']} "
              f"topic {worker.loop.relay.settings.topic}", file=sys.stderr)
        try:
            while worker.running and not stop.wait(0.2):
                if args.until_empty and not worker.loop.failing and worker.loop.relay.lag().pending == 0:
                    break
        finally:
            worker.stop()
            app.operations.attach_relay(None)
    print(f"orderhex: relay stopped after publishing {worker.loop.published} message(s)", file=sys.stderr)
    return 0


def configure_consume(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-messages", type=int, default=0,
                        help="exit after handling this many messages (default 0: run until SIGTERM/SIGINT)")


def run_consume(args: argparse.Namespace, app: Any, build: Callable[[Any], CommandIntake]) -> int:
    _require_a_real_broker(app, "orderhex consume reads commands other processes send")
    intake = build(app)
    settings = intake.settings
    print(f"orderhex: consuming {settings.topic} as group {settings.group} on {app.messaging.describe()}",
          file=sys.stderr)
    with stop_on_signals() as stop:
        if args.max_messages > 0:
            threading.Thread(target=_stop_after, args=(intake, args.max_messages, stop), daemon=True).start()
        intake.run(stop)
    counts = intake.counts
    print(f"orderhex: consumer stopped: {counts.accepted} accepted, {counts.duplicates} duplicate(s), "
          f"{counts.rejected} rejected", file=sys.stderr)
    return 0


def _require_a_real_broker(app: Any, why: str) -> None:
    if app.config["messaging.adapter"] == "memory":
        raise ValidationError("messaging.adapter", f"is memory, but {why}: set it to kafka "
                                                   "(ORDERHEX_MESSAGING__ADAPTER=kafka)")


def _stop_after(intake: CommandIntake, limit: int, stop: threading.Event) -> None:
    while not stop.wait(0.1):
        counts = intake.counts
        if counts.accepted + counts.duplicates + counts.rejected >= limit:
            stop.set()
