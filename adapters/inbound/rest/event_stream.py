"""The EventFeed as Server-Sent Events for many clients at once, without costing the order API.

One thread follows the feed for every stream: it reads each event once, encodes it as an SSE
frame once and keeps the newest `replay` frames. A stream on the server's loop only copies bytes:
it wakes when that thread has news (at most once per FLUSH_SECONDS, however many events came),
takes the frames after the last one it sent and writes them as one chunk. So the request loop
does no feed reads and no JSON encoding, a burst of events costs each stream one wake and one
write, and a slow client costs no memory: when the frames it still needs are gone it is told so
with a `gap` event and goes on from the oldest frame held.

Measured before this (issue 16): 50 streams, each reading the feed and encoding every event on
the loop itself, took order throughput from 421/s to 6.8/s.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from bisect import bisect_right
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from core.kernel.errors import Unavailable
from core.kernel.feed import FeedEvent
from ports.control import Control

log = logging.getLogger("orderhex.rest")

# Events arriving within this window go out together: one wake and one write per stream.
FLUSH_SECONDS = 0.05
# How often a waiting stream or the encoder checks whether the server is stopping.
STOP_POLL_SECONDS = 0.25
# The feed holds at most its capacity; read everything it has after the last event seen.
READ_ALL = 1_000_000_000
# After the encoder fails to read the feed (a remote feed that is down), wait this long.
RETRY_SECONDS = 1.0


def sse_frame(event: FeedEvent, boot_id: str) -> bytes:
    data = json.dumps(event.to_dict(), separators=(",", ":"), default=str)
    return f"id: {boot_id}:{event.seq}\nevent: {event.kind.value}\ndata: {data}\n\n".encode()


@dataclass(frozen=True)
class _Batch:
    """Frames read together, with their seqs (increasing) and all of them as one chunk."""

    seqs: list[int]
    frames: list[bytes]
    joined: bytes


class Subscription:
    """One open stream's place in the fan-out: the event that wakes it, on its own loop."""

    def __init__(self, fanout: FeedFanout, loop: asyncio.AbstractEventLoop) -> None:
        self.wake = asyncio.Event()
        self.loop = loop
        self._fanout = fanout

    def close(self) -> None:
        self._fanout.release(self)


class FeedFanout:
    """Encodes the feed once for every stream; at most `max_streams` streams at a time."""

    def __init__(self, control: Control, boot_id: str, stopping: threading.Event, *, max_streams: int,
                 replay: int) -> None:
        self._control = control
        self._boot_id = boot_id
        self._stopping = stopping
        self.max_streams = max_streams
        self._replay = max(1, replay)
        self._lock = threading.Lock()
        self._batches: deque[_Batch] = deque()
        self._held = 0
        self._subscriptions: set[Subscription] = set()
        self._thread: threading.Thread | None = None

    @property
    def streams(self) -> int:
        return len(self._subscriptions)

    def open(self) -> Subscription:
        """A place for one more stream, or Unavailable (503 with Retry-After) when all are taken."""
        with self._lock:
            if len(self._subscriptions) >= self.max_streams:
                log.warning("refused an event stream: %d are open", self.max_streams,
                            extra={"event": "event_stream_refused", "streams": self.max_streams})
                raise Unavailable("the event feed", f"{self.max_streams} streams are open (api.max_event_streams)",
                                  "try again later, or close a stream")
            subscription = Subscription(self, asyncio.get_running_loop())
            self._subscriptions.add(subscription)
            if self._thread is None:
                self._thread = threading.Thread(target=self._follow, name="orderhex-sse", daemon=True)
                self._thread.start()
        return subscription

    def release(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions.discard(subscription)

    def after(self, last: int) -> tuple[bytes, int, tuple[int, int] | None]:
        """The frames after seq `last` as one chunk, the seq of the newest of them (`last` if none),
        and the seqs missed (from, to) when frames after `last` are no longer held."""
        chunks: list[bytes] = []
        first = newest = last
        with self._lock:
            for batch in reversed(self._batches):  # newest first: a stream that keeps up reads one
                if batch.seqs[-1] <= last:
                    break
                if not chunks:
                    newest = batch.seqs[-1]
                start = bisect_right(batch.seqs, last)
                chunks.append(batch.joined if start == 0 else b"".join(batch.frames[start:]))
                first = batch.seqs[start]
        if not chunks:
            return b"", last, None
        gap = (last + 1, first - 1) if last and first > last + 1 else None
        return b"".join(reversed(chunks)), newest, gap

    def _follow(self) -> None:
        news = threading.Event()
        unsubscribe = self._control.subscribe(lambda _: news.set())
        last = 0
        try:
            while not self._stopping.is_set():
                news.clear()
                try:
                    last = self._read(last)
                except Exception:  # a remote feed may fail; streams wait, and the encoder tries again
                    log.exception("could not read the event feed for its streams")
                    self._stopping.wait(RETRY_SECONDS)
                    continue
                if news.wait(STOP_POLL_SECONDS):
                    self._stopping.wait(FLUSH_SECONDS)
        finally:
            unsubscribe()

    def _read(self, last: int) -> int:
        events = self._control.recent_events(last, READ_ALL)[-self._replay:]
        if not events:
            return last
        frames = [sse_frame(event, self._boot_id) for event in events]
        batch = _Batch([event.seq for event in events], frames, b"".join(frames))
        with self._lock:
            self._batches.append(batch)
            self._held += len(frames)
            while self._held > self._replay:
                self._held -= len(self._batches.popleft().frames)
            waiting: dict[asyncio.AbstractEventLoop, list[asyncio.Event]] = {}
            for subscription in self._subscriptions:
                waiting.setdefault(subscription.loop, []).append(subscription.wake)
        for loop, wakes in waiting.items():
            try:
                loop.call_soon_threadsafe(_set_all, wakes)
            except RuntimeError:  # that loop has closed: its streams are gone
                continue
        return batch.seqs[-1]


def _set_all(wakes: list[asyncio.Event]) -> None:
    for wake in wakes:
        wake.set()


async def feed_stream(fanout: FeedFanout, subscription: Subscription, after: int, stopping: threading.Event,
                      heartbeat_seconds: float) -> AsyncIterator[bytes]:
    """Feed events with seq > `after`, then live ones, until the client leaves or the server stops."""
    yield b"retry: 2000\n\n"
    last, idle = after, 0.0
    while not stopping.is_set():
        subscription.wake.clear()
        chunk, last, gap = fanout.after(last)
        if gap is not None:
            yield f"event: gap\ndata: {json.dumps({'missed_from': gap[0], 'missed_to': gap[1]})}\n\n".encode()
        if chunk:
            idle = 0.0
            yield chunk
            continue
        try:
            await asyncio.wait_for(subscription.wake.wait(), STOP_POLL_SECONDS)
        except TimeoutError:
            idle += STOP_POLL_SECONDS
            if idle >= heartbeat_seconds:
                idle = 0.0
                yield b": keep-alive\n\n"


class FeedResponse(StreamingResponse):
    """An event stream that gives its place in the fan-out back however it ends: finished,
    cancelled, or never started because the client left before the headers went out."""

    def __init__(self, content: AsyncIterator[bytes], subscription: Subscription, headers: dict[str, str]) -> None:
        super().__init__(content, media_type="text/event-stream", headers=headers)
        self._subscription = subscription

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._subscription.close()
