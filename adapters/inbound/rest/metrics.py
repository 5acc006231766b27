"""Prometheus text-format metrics: commands by type and outcome with their latency (from the
EventFeed's COMMAND events, so commands from every door count), HTTP requests, and the outbox."""

from __future__ import annotations

import bisect
import threading
import time
from collections import defaultdict
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.kernel.feed import FeedEvent, FeedKind
from ports.control import OutboxStatus

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Histogram:
    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.total = 0.0
        self.n = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds
        self.n += 1

    def lines(self, name: str, labels: str) -> Iterable[str]:
        cumulative = 0
        for bound, count in zip(BUCKETS, self.counts, strict=False):
            cumulative += count
            yield f'{name}_bucket{{{labels},le="{bound}"}} {cumulative}'
        yield f'{name}_bucket{{{labels},le="+Inf"}} {self.n}'
        yield f"{name}_sum{{{labels}}} {self.total:.6f}"
        yield f"{name}_count{{{labels}}} {self.n}"


class Metrics:
    """Counters and histograms, fed from any thread; `render` writes the exposition text."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._commands: dict[tuple[str, str], int] = defaultdict(int)
        self._command_latency: dict[str, Histogram] = defaultdict(Histogram)
        self._requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self._request_latency: dict[tuple[str, str], Histogram] = defaultdict(Histogram)

    def on_feed_event(self, event: FeedEvent) -> None:
        if event.kind is not FeedKind.COMMAND:
            return
        command = str(event.data.get("command", "unknown"))
        outcome = str(event.data.get("outcome", "unknown"))
        ms = event.data.get("ms")
        with self._lock:
            self._commands[(command, outcome)] += 1
            if isinstance(ms, int | float):
                self._command_latency[command].observe(ms / 1000)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self._requests[(method, route, status)] += 1
            self._request_latency[(method, route)].observe(seconds)

    def render(self, outbox: OutboxStatus | None) -> str:
        out = [
            "# HELP orderhex_commands_total Commands handled, by command type and outcome.",
            "# TYPE orderhex_commands_total counter",
        ]
        with self._lock:
            out += [f'orderhex_commands_total{{command="{_esc(c)}",outcome="{_esc(o)}"}} {n}'
                    for (c, o), n in sorted(self._commands.items())]
            out += ["# HELP orderhex_command_duration_seconds Time the bus took per command, by type.",
                    "# TYPE orderhex_command_duration_seconds histogram"]
            for command, hist in sorted(self._command_latency.items()):
                out += hist.lines("orderhex_command_duration_seconds", f'command="{_esc(command)}"')
            out += ["# HELP orderhex_http_requests_total HTTP requests, by method, route and status.",
                    "# TYPE orderhex_http_requests_total counter"]
            out += [f'orderhex_http_requests_total{{method="{m}",route="{_esc(r)}",status="{s}"}} {n}'
                    for (m, r, s), n in sorted(self._requests.items())]
            out += ["# HELP orderhex_http_request_duration_seconds HTTP request latency, by method and route.",
                    "# TYPE orderhex_http_request_duration_seconds histogram"]
            for (method, route), hist in sorted(self._request_latency.items()):
                out += hist.lines("orderhex_http_request_duration_seconds", f'method="{method}",route="{_esc(route)}"')
        if outbox is not None:
            out += [
                "# HELP orderhex_outbox_pending Outbox rows not yet published (the backlog).",
                "# TYPE orderhex_outbox_pending gauge",
                f"orderhex_outbox_pending {outbox.pending}",
                "# HELP orderhex_outbox_lag_seconds Age of the oldest unpublished outbox row (0 when none).",
                "# TYPE orderhex_outbox_lag_seconds gauge",
                f"orderhex_outbox_lag_seconds {outbox.lag_seconds or 0.0:.6f}",
                "# HELP orderhex_relay_running Whether this process runs the outbox relay.",
                "# TYPE orderhex_relay_running gauge",
                f"orderhex_relay_running {int(outbox.relay_running)}",
                "# HELP orderhex_relay_paused Whether an operator paused the relay.",
                "# TYPE orderhex_relay_paused gauge",
                f"orderhex_relay_paused {int(outbox.relay_paused)}",
            ]
        out += ["# HELP orderhex_outbox_up Whether the outbox could be read for this scrape.",
                "# TYPE orderhex_outbox_up gauge", f"orderhex_outbox_up {int(outbox is not None)}"]
        return "\n".join(out) + "\n"


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


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
