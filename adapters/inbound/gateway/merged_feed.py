"""The whole system's event feed at the gateway: one follower per service instance reads its
/admin/events (resuming after the last event it saw, also when the instance comes back after it
left the registry), and every event goes into one ring of SSE frames numbered by the gateway under
its boot id. A dashboard's stream replays the frames after its Last-Event-ID (or `?after=`) and
then follows live, so a dashboard that reconnects resumes instead of reading everything again.

Followers start with the first stream and follow the registry from then on: an instance that
appears later joins the feed within a refresh, one that leaves it is no longer followed. One
address is followed once, whatever number of services it is registered for (a monolith). All of
it runs on the gateway's event loop; a stream only copies frames, so a slow dashboard costs no
memory: when the frames it still needs are gone it is told so with a `gap` event, as the services
tell theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import secrets
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp

from ports.registry import InstanceRecord

log = logging.getLogger("orderhex.gateway")
RETRY_SECONDS, RETRY_MAX_SECONDS = 1.0, 10.0  # a lost upstream stream is opened again after this, doubling
# The services send a keep-alive comment every few seconds: a silence this long is a lost stream.
READ_SECONDS = 60.0
RECONCILE_SECONDS = 1.0  # the registry's instances are compared with the followed ones at least this often
BREAKER_KIND = "breaker"


@dataclass(frozen=True)
class Source:
    """One followed address and how its events are tagged: `service` (several joined by "," when
    one process is registered for several), `instance` its instance id, `key` the registry key
    that names its breakers in the merged view."""

    address: str
    service: str
    instance: str
    key: str


def sources(records: Iterable[InstanceRecord]) -> dict[str, Source]:
    """The distinct addresses of `records`, each with the services registered there."""
    by_address: dict[str, list[InstanceRecord]] = {}
    for record in records:
        by_address.setdefault(record.address.rstrip("/"), []).append(record)
    found = {}
    for address, listed in by_address.items():
        first = min(listed, key=lambda r: r.key)
        found[address] = Source(address, ",".join(sorted({r.service for r in listed})), first.instance_id, first.key)
    return found


def qualified(name: str, key: str) -> str:
    """A breaker's name in the merged view: `<its name>@<service/instance>`, unique across the system."""
    return f"{name}@{key}"


def tagged(event: dict[str, Any], source: Source) -> dict[str, Any]:
    data = dict(event.get("data") or {})
    if event.get("kind") == BREAKER_KIND:
        for field in ("name", "breaker"):
            if isinstance(data.get(field), str):
                data[field] = qualified(data[field], source.key)
    return {**event, "data": {**data, "service": source.service, "instance": source.instance}}


class MergedFeed:
    """`after(seq)` is what a stream sends next; `news` is set when frames arrive. `headers()` are
    sent to every instance (its admin token); `instances()` lists the registry's instances now;
    `watch(wake)` asks to be woken (from any thread) when they may have changed."""

    def __init__(self, instances: Callable[[], list[InstanceRecord]], headers: Callable[[], dict[str, str]],
                 watch: Callable[[Callable[[], None]], None], *, capacity: int = 5000,
                 connect_timeout: float = 3.0) -> None:
        self.boot_id = secrets.token_hex(8)
        self._instances = instances
        self._headers = headers
        self._watch = watch
        self._connect = connect_timeout
        self._frames: deque[tuple[int, bytes]] = deque(maxlen=max(1, capacity))
        self._seq = 0
        self.news = asyncio.Event()
        self._followers: dict[str, asyncio.Task[None]] = {}
        self._positions: dict[str, str] = {}  # address -> the last event id it sent (kept after it leaves)
        self._changed: asyncio.Event | None = None
        self._reconciler: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def following(self) -> tuple[str, ...]:
        return tuple(sorted(self._followers))

    def start(self, session: aiohttp.ClientSession) -> None:
        """Follow the registry's instances from now on (idempotent; on the gateway's loop)."""
        if self._reconciler is not None:
            return
        self._session = session
        loop = asyncio.get_running_loop()
        changed = self._changed = asyncio.Event()

        def wake() -> None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: the gateway is stopping
                loop.call_soon_threadsafe(changed.set)

        self._watch(wake)
        self.reconcile()
        self._reconciler = asyncio.create_task(self._reconcile_forever(changed), name="gateway-feed-reconciler")

    async def stop(self) -> None:
        tasks = [t for t in (self._reconciler, *self._followers.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._followers.clear()
        self._reconciler = None

    def reconcile(self) -> None:
        """Follow every address the registry lists now, and only those."""
        wanted = sources(self._instances())
        for address in set(self._followers) - set(wanted):
            self._followers.pop(address).cancel()
            log.info("the merged event feed no longer follows %s: it left the registry", address)
        for address, source in wanted.items():
            if address not in self._followers:
                self._followers[address] = asyncio.create_task(self._follow(source), name=f"feed {source.key}")
                log.info("the merged event feed follows %s (%s)", source.key, address)

    async def _reconcile_forever(self, changed: asyncio.Event) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), RECONCILE_SECONDS)
            changed.clear()
            try:
                self.reconcile()
            except Exception:
                log.exception("the merged event feed could not compare the registry's instances with its followers")

    def append(self, event: dict[str, Any]) -> None:
        self._seq += 1
        event = {**event, "seq": self._seq}
        kind = str(event.get("kind") or "message").replace("\n", " ")
        frame = f"id: {self.boot_id}:{self._seq}\nevent: {kind}\ndata: {json.dumps(event)}\n\n".encode()
        self._frames.append((self._seq, frame))
        self.news.set()
        self.news = asyncio.Event()

    def after(self, last: int) -> tuple[bytes, int, tuple[int, int] | None]:
        """The frames after seq `last` as one chunk, the newest seq in it (`last` if none), and the
        seqs missed (from, to) when frames after `last` are no longer held."""
        if not self._frames or self._frames[-1][0] <= last:
            return b"", last, None
        first = self._frames[0][0]
        start = max(0, last + 1 - first)
        chunk = b"".join(frame for _, frame in itertools.islice(self._frames, start, None))
        gap = (last + 1, first - 1) if last and first > last + 1 else None
        return chunk, self._frames[-1][0], gap

    def resume_point(self, last_event_id: str | None, after: int | None) -> int:
        """The seq to send after: the id's seq when this gateway sent it, 0 (everything held) when a
        previous run of the gateway did. Raises ValueError for an id that is no BOOT:SEQ."""
        if last_event_id is None:
            return after or 0
        boot, sep, seq = last_event_id.strip().rpartition(":")
        if not sep or not seq.isdigit() or len(seq) > 18:
            raise ValueError(f"must be BOOT:SEQ as sent in an event's id, got {last_event_id[:80]!r}")
        return int(seq) if boot == self.boot_id else 0

    async def _follow(self, source: Source) -> None:
        """Appends every event of one instance's stream, tagged; reopens a lost stream, resuming
        after the last event seen (the instance replays what it still holds after it)."""
        assert self._session is not None, "start() hands the session"
        url = source.address + "/admin/events"
        delay = RETRY_SECONDS
        while True:
            headers = {**self._headers(), "Accept": "text/event-stream"}
            if last_id := self._positions.get(source.address):
                headers["Last-Event-ID"] = last_id
            try:
                async with self._session.get(url, headers=headers,
                                             timeout=aiohttp.ClientTimeout(total=None, sock_read=READ_SECONDS,
                                                                           connect=self._connect)) as upstream:
                    if upstream.status != 200:
                        log.warning("the event stream of %s answered %d", source.key, upstream.status)
                    else:
                        delay = RETRY_SECONDS
                        async for event_id, data in sse_data(upstream.content):
                            if event_id:
                                self._positions[source.address] = event_id
                            self.append(tagged(data, source))
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                log.info("the event stream of %s was lost (%s); reopening", source.key, exc or type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)


async def sse_data(content: aiohttp.StreamReader) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """(id, data as JSON) of each SSE event carrying a JSON object; comments, gaps and retries are skipped."""
    event_id, name, data = "", "", []
    async for raw in content:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if data and name != "gap":
                with contextlib.suppress(json.JSONDecodeError):
                    parsed = json.loads("\n".join(data))
                    if isinstance(parsed, dict):
                        yield event_id, parsed
            event_id, name, data = "", "", []
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "id":
            event_id = value
        elif field == "event":
            name = value
        elif field == "data":
            data.append(value)
