"""Prometheus metrics (prometheus-client): what one application does, read off its EventFeed
(so commands from every door count), plus HTTP requests, the outbox, and the process.

- Per application (a `Metrics`, one registry each): commands by type and outcome with their
  latency, HTTP requests by route template, relay throughput (messages, batches) and errors,
  intake outcomes and dead letters, and the outbox's backlog and lag read at scrape time.
- Per process (`PROCESS`, shared by every `Metrics` of the process): CPU, memory, open files,
  GC, Python and build info (`orderhex_build_info{version=...}`), and the Kafka intake's
  messages by outcome and dead letters by error (counted by the intake's tracer,
  adapters/inbound/workers/intake_trace.py, which sees every message whatever door runs it).

Label values are snake_case (`place_order`, `illegal_transition`); `route` is the route
template ("/orders/{order_id}", never a raw path: ids in paths would make one series per order).
`serve` exposes them at /metrics; `orderhex relay` and `orderhex consume` with --metrics-port.
"""

from __future__ import annotations

import logging
import platform
import re
import threading
import time
from collections.abc import Callable, Iterable
from importlib import metadata
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client import start_http_server as _start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.kernel.errors import DomainError, Unavailable
from core.kernel.feed import FeedEvent, FeedKind
from ports.control import OutboxStatus

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# The classic text format: every Prometheus and every scraper reads it.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
log = logging.getLogger("orderhex.metrics")

# `*_created` series double every counter for no use here.
disable_created_metrics()


def _version() -> str:
    try:
        return metadata.version("orderhex")
    except metadata.PackageNotFoundError:
        return "unknown"


PROCESS = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=PROCESS)
PlatformCollector(registry=PROCESS)
GCCollector(registry=PROCESS)
Info("orderhex_build", "The orderhex build this process runs.", registry=PROCESS).info({
    "version": _version(), "python": platform.python_version(),
})
INTAKE_MESSAGES = Counter("orderhex_intake_messages", "Commands the Kafka intake took off its topic, by outcome "
                          "(accepted, duplicate, dead_lettered).", ["outcome"], registry=PROCESS)
INTAKE_DEAD_LETTERS = Counter("orderhex_intake_dead_letters",
                              "Commands the Kafka intake copied to the dead-letter topic, by error.", ["error"],
                              registry=PROCESS)

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake(value: object) -> str:
    """A label value in snake_case: "PlaceOrder" -> "place_order", "HTTPError" -> "http_error"."""
    text = _CAMEL.sub("_", str(value)).lower()
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_") or "unknown"


class _Outbox(Collector):
    """The outbox's backlog, read at scrape time; `orderhex_outbox_up` 0 when it cannot be read."""

    def __init__(self, status: Callable[[], OutboxStatus]) -> None:
        self._status = status

    def collect(self) -> Iterable[GaugeMetricFamily]:
        try:
            outbox: OutboxStatus | None = self._status()
        except (DomainError, Unavailable) as exc:
            # A scrape must still answer when the store is down; orderhex_outbox_up says so.
            log.warning("metrics: outbox unreadable: %s", exc)
            outbox = None
        if outbox is not None:
            yield GaugeMetricFamily("orderhex_outbox_pending", "Outbox rows not yet published (the backlog).",
                                    value=outbox.pending)
            yield GaugeMetricFamily("orderhex_outbox_lag_seconds",
                                    "Age of the oldest unpublished outbox row (0 when none).",
                                    value=outbox.lag_seconds or 0.0)
            yield GaugeMetricFamily("orderhex_outbox_parked",
                                    "Outbox rows the broker refused for good, waiting for an operator to retry "
                                    "or drop them (every store of the process).", value=outbox.parked)
            yield GaugeMetricFamily("orderhex_relay_running", "Whether this process runs the outbox relay.",
                                    value=int(outbox.relay_running))
            yield GaugeMetricFamily("orderhex_relay_paused", "Whether an operator paused the relay.",
                                    value=int(outbox.relay_paused))
        yield GaugeMetricFamily("orderhex_outbox_up", "Whether the outbox could be read for this scrape.",
                                value=int(outbox is not None))


class Metrics:
    """One application's metrics, fed from any thread (`on_feed_event`, `observe_request`);
    `render()` writes the exposition text, the process's own metrics included."""

    def __init__(self) -> None:
        # Not auto-described: that would read the outbox when it is registered, not when scraped.
        self.registry = CollectorRegistry(auto_describe=False)
        registry = self.registry
        self._outbox: _Outbox | None = None
        self._lock = threading.Lock()
        self.commands = Counter("orderhex_commands", "Commands handled, by command type and outcome.",
                                ["command", "outcome"], registry=registry)
        self.command_duration = Histogram("orderhex_command_duration_seconds",
                                          "Time the bus took per command, by type.", ["command"],
                                          buckets=BUCKETS, registry=registry)
        self.requests = Counter("orderhex_http_requests", "HTTP requests, by method, route and status.",
                                ["method", "route", "status"], registry=registry)
        self.request_duration = Histogram("orderhex_http_request_duration_seconds",
                                          "HTTP request latency, by method and route.", ["method", "route"],
                                          buckets=BUCKETS, registry=registry)
        self.relay_published = Counter("orderhex_relay_published_messages",
                                       "Messages the relay published and the broker confirmed.", registry=registry)
        self.relay_batches = Counter("orderhex_relay_batches", "Batches the relay published.", registry=registry)
        self.relay_errors = Counter("orderhex_relay_errors",
                                    "Relay rounds that failed (an outage: the relay backs off and retries), "
                                    "by error.", ["error"], registry=registry)
        self.relay_parked = Counter("orderhex_relay_parked_messages",
                                    "Outbox rows the relay parked because the broker refused them for good.",
                                    registry=registry)
        self.relay_requeued = Counter("orderhex_relay_requeued_messages",
                                      "Published outbox rows queued again because the broker lost its log.",
                                      registry=registry)
        self.relay_resumed = Counter("orderhex_relay_outages_ended",
                                     "Times the relay resumed publishing after an outage.", registry=registry)
        self.outbox_purged = Counter("orderhex_outbox_purged_rows",
                                     "Published outbox rows purged after their retention.", registry=registry)
        self.intake_waits = Counter("orderhex_intake_outage_waits",
                                    "Times the Kafka intake backed off for an outage.", registry=registry)
        self.last_feed_event = Gauge("orderhex_feed_last_seq", "The newest event seq this process reported.",
                                     registry=registry)
        registry.register(_Process())

    def watch_outbox(self, status: Callable[[], OutboxStatus]) -> None:
        """Read the outbox through `status` at each scrape (once; later calls are ignored)."""
        with self._lock:
            if self._outbox is None:
                self._outbox = _Outbox(status)
                self.registry.register(self._outbox)

    def watch_breakers(self, snapshots: Callable[[], Iterable[Any]]) -> None:
        """Read the circuit breakers' snapshots at each scrape (issue 12)."""
        self.registry.register(_Breakers(snapshots))

    def on_feed_event(self, event: FeedEvent) -> None:
        data = event.data
        self.last_feed_event.set(event.seq)
        if event.kind is FeedKind.COMMAND:
            self._command(event)
        elif event.kind is FeedKind.OUTBOX_PUBLISHED:
            if "purged" in data:
                self.outbox_purged.inc(_number(data.get("purged")))
            else:
                self.relay_batches.inc()
                self.relay_published.inc(_number(data.get("count")))
        elif event.kind is FeedKind.RELAY_LAG and data.get("resumed"):
            self.relay_resumed.inc()
        elif event.kind is FeedKind.OUTBOX_PARKED and data.get("action") == "parked":
            self.relay_parked.inc()
        elif event.kind is FeedKind.OUTBOX_REQUEUED:
            self.relay_requeued.inc(_number(data.get("count")))
        elif event.kind is FeedKind.ERROR:
            self._error(event)

    def _command(self, event: FeedEvent) -> None:
        data = event.data
        if "outcome" in data and "command" in data:  # the bus: every door's commands
            command = snake(data["command"])
            self.commands.labels(command, snake(data["outcome"])).inc()
            ms = data.get("ms")
            if isinstance(ms, int | float):
                self.command_duration.labels(command).observe(ms / 1000)

    def _error(self, event: FeedEvent) -> None:
        data = event.data
        if data.get("component") == "relay":
            self.relay_errors.labels(snake(data.get("error", "unknown"))).inc()
        elif event.text.startswith("command intake"):
            self.intake_waits.inc()

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method.lower(), route, str(status)).inc()
        self.request_duration.labels(method.lower(), route).observe(seconds)

    def render(self) -> str:
        """The exposition text (the outbox, when watched, is read now: call off the event loop)."""
        return generate_latest(self.registry).decode()

    def serve(self, port: int, host: str = "127.0.0.1") -> MetricsServer:
        """Serve /metrics over HTTP in a daemon thread (`orderhex relay` and `consume`)."""
        return MetricsServer(self.registry, host, port)


class _Process(Collector):
    """The process-wide registry, collected into each application's."""

    def collect(self) -> Iterable[Any]:
        return PROCESS.collect()


class MetricsServer:
    """prometheus-client's HTTP server on (host, port): GET /metrics (any path) answers the text."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self._server, self._thread = _start_http_server(port, addr=host, registry=registry)
        self.host = host
        self.port = int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


class RequestMetrics:
    """ASGI middleware timing every HTTP request, labelled by route template (never the raw
    path: ids in paths would make one series per order)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(scope["method"], template, status, time.perf_counter() - started)


class _Breakers(Collector):
    """Each circuit breaker at scrape time: its state (1 for the one it is in), the calls in its
    window, its failure and slow-call rates, calls in flight, and rejections among its recent calls."""

    STATES = ("closed", "open", "half-open", "forced-open", "forced-closed", "metrics-only")

    def __init__(self, snapshots: Callable[[], Iterable[Any]]) -> None:
        self._snapshots = snapshots

    def collect(self) -> Iterable[Any]:
        state = GaugeMetricFamily("orderhex_breaker_state", "A circuit breaker's state (1 for the one it is in).",
                                  labels=["breaker", "state"])
        calls = GaugeMetricFamily("orderhex_breaker_calls", "Calls in a breaker's window.", labels=["breaker"])
        failure = GaugeMetricFamily("orderhex_breaker_failure_rate", "Failure rate in a breaker's window.",
                                    labels=["breaker"])
        slow = GaugeMetricFamily("orderhex_breaker_slow_call_rate", "Slow-call rate in a breaker's window.",
                                 labels=["breaker"])
        in_flight = GaugeMetricFamily("orderhex_breaker_in_flight", "Calls through a breaker not yet ended.",
                                      labels=["breaker"])
        rejected = CounterMetricFamily("orderhex_breaker_rejections", "Calls a breaker rejected.",
                                       labels=["breaker"])
        for snap in self._snapshots():
            doc = snap.to_json() if hasattr(snap, "to_json") else snap
            name = str(doc["name"])
            for each in self.STATES:
                state.add_metric([name, each], int(doc.get("state") == each))
            calls.add_metric([name], float(doc.get("calls") or 0))
            failure.add_metric([name], float(doc.get("failure_rate") or 0))
            slow.add_metric([name], float(doc.get("slow_call_rate") or 0))
            in_flight.add_metric([name], float(doc.get("in_flight") or 0))
            rejected.add_metric([name], float(doc.get("rejected") or 0))
        yield from (state, calls, failure, slow, in_flight, rejected)
