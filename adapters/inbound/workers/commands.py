"""The `orderhex relay` and `orderhex consume` subcommands: long-running workers in the foreground.

Each logs structured lines (adapters/inbound/logs.py: JSON when stderr is not a terminal) from
its start to its exit, and with `--metrics-port` serves Prometheus metrics at /metrics. SIGTERM
or SIGINT stops it within STOP_TIMEOUT seconds even while the broker is down: a publish in
flight is interrupted (the outbox, or the unacknowledged command, is sent again later).
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from adapters.inbound import logs
from adapters.inbound.kafka.intake import CommandIntake
from adapters.inbound.rest.metrics import Metrics, MetricsServer
from adapters.inbound.workers.foreground import stop_on_signals
from adapters.inbound.workers.relay import RelayGroup
from adapters.inbound.workers.roles import interrupt_publish
from core.kernel.errors import Unavailable, ValidationError

STOP_TIMEOUT = 10.0  # seconds from SIGTERM to exit, at most (plus leaving the consumer group)
relay_log = logging.getLogger("orderhex.relay")
intake_log = logging.getLogger("orderhex.intake")


def configure_relay(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--until-empty", action="store_true",
                        help="exit once the outbox has no unpublished rows (default: run until SIGTERM/SIGINT)")
    worker_options(parser)


def configure_consume(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-messages", type=int, default=0,
                        help="exit after handling this many messages (default 0: run until SIGTERM/SIGINT)")
    worker_options(parser)


def worker_options(parser: argparse.ArgumentParser) -> None:
    """Options every long-running orderhex process takes (serve too)."""
    parser.add_argument("--metrics-port", type=int, metavar="PORT",
                        help="serve Prometheus metrics at http://HOST:PORT/metrics (0: a free port, logged)")
    parser.add_argument("--metrics-host", default="127.0.0.1", metavar="HOST",
                        help="the address --metrics-port binds (default 127.0.0.1)")
    parser.add_argument("--log-format", choices=logs.FORMATS, default=None,
                        help="log lines as JSON or text (default log.format, else auto: JSON unless stderr is a "
                             "terminal)")
    parser.add_argument("--log-level", default=None, choices=("debug", "info", "warning", "error"),
                        help="the least severe lines logged (default log.level, else info)")


def start_logging(args: argparse.Namespace, config: Any) -> None:
    """The process's log set-up from --log-format/--log-level, else the log.* settings (when the
    configuration has them), else JSON-unless-a-terminal at info."""
    logs.configure(args.log_format or _setting(config, "log.format", "auto"),
                   args.log_level or _setting(config, "log.level", "info"))


def _setting(config: Any, key: str, default: str) -> str:
    try:
        return str(config[key])
    except (KeyError, TypeError):
        return default


class Observed:
    """A worker process's logging and metrics: the feed as log lines, and /metrics when asked."""

    def __init__(self, args: argparse.Namespace, app: Any) -> None:
        self.metrics = Metrics()
        self._unsubscribe = [logs.log_feed(app.feed), app.feed.subscribe(self.metrics.on_feed_event)]
        self.server: MetricsServer | None = None
        if args.metrics_port is not None:
            try:
                self.server = self.metrics.serve(args.metrics_port, args.metrics_host)
            except OSError as exc:
                self.close()
                raise Unavailable(f"the metrics address {args.metrics_host}:{args.metrics_port}", str(exc),
                                  "choose another --metrics-port") from exc

    def fields(self) -> dict[str, Any]:
        return {"pid": os.getpid(), **({"metrics_url": self.server.url} if self.server else {})}

    def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        if self.server is not None:
            self.server.close()


def run_relay(args: argparse.Namespace, app: Any, build: Callable[[Any], RelayGroup]) -> int:
    # The in-memory broker lives and dies with this process: rows marked published into it would
    # reach no one. In-process relays (serve, dashboard) may use it; this command may not.
    _require_a_real_broker(app, "orderhex relay publishes the outbox to a broker other processes read")
    start_logging(args, app.config)
    worker = build(app)
    observed: Observed | None = None
    with stop_on_signals() as stop:
        worker.start()  # raises at once when another relay holds this store
        try:
            app.operations.attach_relay(worker)
            observed = Observed(args, app)
            observed.metrics.watch_outbox(app.operations.outbox_status)
            # The broker is named from config: it may be down now, which the relay rides out by backing off.
            stores = [w.loop.relay.describe() for w in worker.workers]
            store = "; ".join(stores)
            # Rows name their topics; `topic` is where rows written before they did go.
            topic = worker.workers[0].loop.relay.settings.topic if worker.workers else ""
            relay_log.info("relay publishing %s -> %s", store, app.config["messaging.adapter"],
                           extra={"event": "started", "role": "relay", "store": store, "topic": topic,
                                  **observed.fields()})
            while worker.running and not stop.wait(0.2):
                if args.until_empty and not worker.failing and worker.pending() == 0:
                    break
        finally:
            started = time.monotonic()
            stopped = worker.stop(STOP_TIMEOUT)
            app.operations.attach_relay(None)
            relay_log.info("relay stopped after publishing %d message(s)", worker.published,
                     extra={"event": "stopped", "role": "relay", "published": worker.published,
                            "stop_seconds": round(time.monotonic() - started, 3), "clean": stopped})
            if observed is not None:
                observed.close()
    return 0


def run_consume(args: argparse.Namespace, app: Any, build: Callable[[Any], CommandIntake]) -> int:
    _require_a_real_broker(app, "orderhex consume reads commands other processes send")
    start_logging(args, app.config)
    intake = build(app)
    settings = intake.settings
    observed = Observed(args, app)
    intake_log.info("consuming %s as group %s on %s", settings.topic, settings.group, app.messaging.describe(),
             extra={"event": "started", "role": "consume", "topic": settings.topic, "group": settings.group,
                    **observed.fields()})
    finished = threading.Event()
    failed: list[BaseException] = []

    def consume(stop: threading.Event) -> None:
        try:
            intake.run(stop)
        except Exception as exc:
            # Said here, with the traceback; the exit status says it to whoever restarts the process.
            failed.append(exc)
            intake_log.exception("the command intake failed")
        finally:
            finished.set()

    try:
        with stop_on_signals() as stop:
            if args.max_messages > 0:
                threading.Thread(target=_stop_after, args=(intake, args.max_messages, stop), daemon=True).start()
            # In a thread, so that the main thread can bound the shutdown: the intake may be waiting
            # for the broker (a dead letter, a reply) when told to stop.
            thread = threading.Thread(target=consume, args=(stop,), name="kafka-command-intake", daemon=True)
            thread.start()
            while not stop.wait(0.2) and not finished.is_set():
                pass
            stop.set()
            _bounded_join(thread, app, STOP_TIMEOUT)
    finally:
        counts = intake.counts
        intake_log.info("consumer stopped: %d accepted, %d duplicate(s), %d rejected", counts.accepted,
                        counts.duplicates, counts.rejected,
                        extra={"event": "stopped", "role": "consume", "accepted": counts.accepted,
                               "duplicates": counts.duplicates, "rejected": counts.rejected,
                               "failed": bool(failed)})
        observed.close()
    return 1 if failed else 0


def _bounded_join(thread: threading.Thread, app: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while thread.is_alive() and time.monotonic() < deadline:
        interrupt_publish(app.switchboard)
        thread.join(0.1)
    if thread.is_alive():
        intake_log.warning("the command intake did not stop within %.1f s; exiting without it", timeout)


def _require_a_real_broker(app: Any, why: str) -> None:
    if app.config["messaging.adapter"] == "memory":
        raise ValidationError("messaging.adapter", f"is memory, but {why}: set it to kafka "
                                                   "(ORDERHEX_MESSAGING__ADAPTER=kafka)")


def _stop_after(intake: CommandIntake, limit: int, stop: threading.Event) -> None:
    while not stop.wait(0.1):
        counts = intake.counts
        if counts.accepted + counts.duplicates + counts.rejected >= limit:
            stop.set()
