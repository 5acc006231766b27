"""The Control port over the admin API, with the EventFeed read from its Server-Sent Events stream."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx

from adapters.outbound.http.api import ServedApi
from core.kernel.envelope import OutboxRecord
from core.kernel.errors import DomainError
from core.kernel.feed import FeedEvent, FeedKind, FeedRing
from ports.control import OutboxStatus, PortInfo

KEPT_EVENTS = 5000
RETRY_MIN, RETRY_MAX = 0.5, 10.0
# The server sends a keep-alive comment every few seconds; a silence this long means it is gone.
STREAM_READ_TIMEOUT = 60.0


def feed_event_from_json(data: dict[str, Any]) -> FeedEvent:
    return FeedEvent(kind=FeedKind(data["kind"]), text=str(data["text"]), at=datetime.fromisoformat(data["at"]),
                     data=dict(data.get("data") or {}), seq=int(data["seq"]))


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """(event name, data) for each complete event of a text/event-stream; comments are skipped."""
    name, data = "message", []
    for line in lines:
        if not line:
            if data:
                yield name, "\n".join(data)
            name, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)


class FeedStream:
    """Follows /admin/events in a daemon thread, resuming after the last seq on every reconnect.

    Events are kept in a ring buffer (what `recent_events` reads) and pushed to subscribers.
    `connected` says whether the stream is up; a lost stream is retried with backoff.
    """

    def __init__(self, api: ServedApi) -> None:
        self._api = api
        self._ring = FeedRing(KEPT_EVENTS)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = False

    @property
    def last_seq(self) -> int:
        return self._ring.last_seq

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._follow, name="orderhex-feed-stream", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def recent(self, after_seq: int, limit: int) -> list[FeedEvent]:
        return self._ring.recent(after_seq, limit)

    def subscribe(self, callback: Callable[[FeedEvent], None]) -> Callable[[], None]:
        unsubscribe = self._ring.subscribe(callback)
        self.start()
        return unsubscribe

    def _follow(self) -> None:
        delay = RETRY_MIN
        while not self._stop.is_set():
            try:
                self._read_stream()
                delay = RETRY_MIN
            except (httpx.HTTPError, DomainError, ValueError, KeyError):
                pass  # a lost stream is retried below; `connected` says it is down meanwhile
            self.connected = False
            self._stop.wait(delay)
            delay = min(delay * 2, RETRY_MAX)

    def _read_stream(self) -> None:
        headers = {"Last-Event-ID": str(self.last_seq), "Accept": "text/event-stream"}
        timeout = httpx.Timeout(STREAM_READ_TIMEOUT, connect=3.0)
        with self._api.client.stream("GET", "/admin/events", headers=headers, timeout=timeout) as response:
            if response.status_code >= 400:
                response.read()
                raise self._api.error(response)
            self.connected = True
            for name, data in sse_events(response.iter_lines()):
                if self._stop.is_set():
                    return
                if name == "gap":
                    continue
                self._ring.accept(feed_event_from_json(json.loads(data)))


class HttpControl:
    """Ports, switches, the outbox and the relay over /admin; the feed over its SSE stream."""

    def __init__(self, api: ServedApi) -> None:
        self._api = api
        self.feed = FeedStream(api)

    def ports(self) -> list[PortInfo]:
        return [PortInfo.from_json(item) for item in self._api.request("GET", "/admin/ports").json()]

    def switch(self, port: str, adapter: str) -> PortInfo:
        # A switch to a server-backed adapter starts that server on the far side: allow for it.
        response = self._api.request("POST", f"/admin/ports/{port}/switch", json={"adapter": adapter},
                                     timeout=httpx.Timeout(120.0, connect=3.0))
        return PortInfo.from_json(response.json())

    def recent_events(self, after_seq: int = 0, limit: int = 1000) -> list[FeedEvent]:
        self.feed.start()
        return self.feed.recent(after_seq, limit)

    def subscribe(self, callback: Callable[[FeedEvent], None]) -> Callable[[], None]:
        return self.feed.subscribe(callback)

    def outbox_status(self) -> OutboxStatus:
        return OutboxStatus.from_json(self._api.request("GET", "/admin/outbox").json())

    def recent_outbox(self, limit: int = 50) -> list[OutboxRecord]:
        rows = self._api.request("GET", "/admin/outbox/recent", params={"limit": limit}).json()
        return [OutboxRecord.from_json(row) for row in rows]

    def pause_relay(self) -> None:
        self._api.request("POST", "/admin/relay/pause")

    def resume_relay(self) -> None:
        self._api.request("POST", "/admin/relay/resume")

    def rebuild_projections(self) -> int:
        rebuilt: int = self._api.request("POST", "/admin/projections/rebuild").json()["rebuilt_from"]
        return rebuilt

    def check_health(self) -> dict[str, str]:
        # /ready answers 503 with the same checks when something is down: read them either way.
        try:
            response = self._api.client.get("/ready")
            checks: dict[str, str] = response.json().get("checks") or {}
        except (httpx.HTTPError, ValueError) as exc:
            return {"service": str(self._api.unreachable(exc))}
        return checks
