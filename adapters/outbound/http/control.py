"""The Control port over the admin API, with the EventFeed read from its Server-Sent Events stream."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, NamedTuple

import httpx

from adapters.outbound.http.api import ServedApi
from core.kernel.envelope import OutboxRecord
from core.kernel.errors import DomainError, NotFound, Unavailable
from core.kernel.feed import FeedEvent, FeedKind, FeedRing
from ports.control import OutboxStatus, ParkedOutboxRow, PortInfo, ServiceStatus

KEPT_EVENTS = 5000
RETRY_MIN, RETRY_MAX = 0.5, 10.0
# The server sends a keep-alive comment every few seconds; a silence this long means it is gone.
STREAM_READ_TIMEOUT = 60.0


def feed_event_from_json(data: dict[str, Any]) -> FeedEvent:
    return FeedEvent(kind=FeedKind(data["kind"]), text=str(data["text"]), at=datetime.fromisoformat(data["at"]),
                     data=dict(data.get("data") or {}), seq=int(data["seq"]))


def outbox_record_from_json(row: dict[str, Any]) -> OutboxRecord:
    """An outbox row as the admin API shows it, its payload a JSON object (or `{"text": ...}` for
    a payload that was no JSON object), back as the row it was: its payload JSON text again."""
    payload = row["payload"]
    if isinstance(payload, dict):
        text = payload["text"] if set(payload) == {"text"} else json.dumps(payload, separators=(",", ":"),
                                                                              sort_keys=True)
    else:
        text = str(payload)
    return OutboxRecord.from_json({**row, "payload": text})


class SseEvent(NamedTuple):
    name: str
    data: str
    id: str | None


def sse_events(lines: Iterator[str]) -> Iterator[SseEvent]:
    """Each complete event of a text/event-stream; comments are skipped."""
    name, data, event_id = "message", [], None
    for line in lines:
        if not line:
            if data:
                yield SseEvent(name, "\n".join(data), event_id)
            name, data, event_id = "message", [], None
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
            elif field == "id":
                event_id = value


class FeedStream:
    """Follows /admin/events in a daemon thread, resuming after the last event on every reconnect.

    Events are kept in a ring buffer (what `recent_events` reads) and pushed to subscribers.
    `connected` says whether the stream is up; a lost or refused stream is retried with backoff.

    The server numbers its feed from 1 at each start and qualifies each event id with its boot
    id. Seqs here are this client's own: the server's seq plus an offset that moves past
    everything kept so far when the boot id changes. So a restarted server's events keep
    increasing here (a subscriber that skips seqs it has seen skips none of them), and the
    restart itself is reported on the feed as one ERROR event carrying the new `boot_id` (and
    the `previous_boot_id`) in its data.
    """

    def __init__(self, api: ServedApi) -> None:
        self._api = api
        self._ring = FeedRing(KEPT_EVENTS)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = False
        self.boot_id: str | None = None
        # The last event id the server sent (its seq) and what its seqs are shifted by here.
        self._server_seq = 0
        self._offset = 0

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
            except (httpx.HTTPError, DomainError, Unavailable, ValueError, KeyError):
                pass  # a lost or refused stream is retried below; `connected` says it is down meanwhile
            self.connected = False
            self._stop.wait(delay)
            delay = min(delay * 2, RETRY_MAX)

    def _read_stream(self) -> None:
        headers = {"Accept": "text/event-stream"}
        if self.boot_id is not None:
            headers["Last-Event-ID"] = f"{self.boot_id}:{self._server_seq}"
        timeout = httpx.Timeout(STREAM_READ_TIMEOUT, connect=3.0)
        with self._api.client.stream("GET", "/admin/events", headers=headers, timeout=timeout) as response:
            if response.status_code >= 400:
                response.read()
                raise self._api.error(response)
            self.connected = True
            for event in sse_events(response.iter_lines()):
                if self._stop.is_set():
                    return
                if event.name != "gap":
                    self._accept(event)

    def _accept(self, sse: SseEvent) -> None:
        event = feed_event_from_json(json.loads(sse.data))
        boot_id = (sse.id or "").rpartition(":")[0] or None
        if boot_id != self.boot_id:
            if self.boot_id is not None:
                self._restarted(boot_id)
            self.boot_id = boot_id
        self._server_seq = event.seq
        self._ring.accept(event.numbered(self._offset + event.seq))

    def _restarted(self, boot_id: str | None) -> None:
        notice = FeedEvent(
            kind=FeedKind.ERROR, at=datetime.now(UTC), seq=self.last_seq + 1,
            text=f"orderhex serve at {self._api.base_url} restarted: its feed starts again (the lines above "
                 "are from before the restart)",
            data={"component": "attach", "boot_id": boot_id, "previous_boot_id": self.boot_id})
        self._ring.accept(notice)
        self._offset = notice.seq


class HttpControl:
    """Ports, switches, the services, the outbox and the relay over /admin; the feed over its SSE stream."""

    def __init__(self, api: ServedApi) -> None:
        self._api = api
        self.feed = FeedStream(api)

    def ports(self) -> list[PortInfo]:
        return [PortInfo.from_json(item) for item in self._api.request("GET", "/admin/ports").json()]

    def services(self) -> list[ServiceStatus]:
        return [ServiceStatus.from_json(item) for item in self._api.request("GET", "/admin/services").json()]

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
        return [outbox_record_from_json(row) for row in rows]

    def pause_relay(self) -> None:
        self._api.request("POST", "/admin/relay/pause")

    def resume_relay(self) -> None:
        self._api.request("POST", "/admin/relay/resume")

    def parked_rows(self) -> list[ParkedOutboxRow]:
        return [ParkedOutboxRow.from_json(row) for row in self._api.request("GET", "/admin/outbox/parked").json()]

    def retry_parked(self, seq: int, service: str | None = None) -> ParkedOutboxRow:
        return self._on_parked("POST", f"/admin/outbox/parked/{seq}/retry", seq, service)

    def drop_parked(self, seq: int, service: str | None = None) -> ParkedOutboxRow:
        return self._on_parked("DELETE", f"/admin/outbox/parked/{seq}", seq, service)

    def _on_parked(self, method: str, path: str, seq: int, service: str | None) -> ParkedOutboxRow:
        try:
            response = self._api.client.request(method, path, params={"service": service} if service else {})
        except httpx.HTTPError as exc:
            raise self._api.unreachable(exc) from exc
        if response.status_code == 404:
            raise NotFound("parked outbox row", str(seq) if service is None else f"{seq} of {service}")
        if response.status_code >= 400:
            raise self._api.error(response)
        return ParkedOutboxRow.from_json(response.json())

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
