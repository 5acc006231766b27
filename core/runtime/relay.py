"""The outbox relay: moves committed outbox rows to the broker, losing none.

Order of effects per batch: claim rows (ascending seq) -> publish them and wait for the
broker's confirmation -> mark them published. A crash between the last two publishes the batch
again on restart (duplicates, which consumers drop by message id), never zero times.

`RelayLoop.step()` does one round and says how long to wait before the next, so any driver
(a thread, a CLI loop, a test) runs the same logic. The store's outbox is looked up each round,
so a store switched between rounds (the switchboard's live port) serves the next one. Each row
goes to the topic it names; rows written before rows named one go to `settings.topic`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby

from core.kernel.errors import Unavailable
from core.kernel.feed import FeedEvent, FeedKind
from ports.messaging import Messaging
from ports.storage import Storage
from ports.system import EventFeed


@dataclass(frozen=True, kw_only=True)
class RelaySettings:
    topic: str
    batch_size: int = 200
    idle_wait: float = 0.2
    backoff_initial: float = 0.1
    backoff_max: float = 10.0
    retention: timedelta = timedelta(days=7)
    report_every: timedelta = timedelta(seconds=1)
    purge_every: timedelta = timedelta(minutes=1)


@dataclass(frozen=True)
class RelayLag:
    """The backlog: how many rows wait, and the age in seconds of the oldest (None when none wait)."""

    pending: int
    lag_seconds: float | None


class Backoff:
    """Exponential delays between failed attempts, doubling from `initial` up to `maximum`."""

    def __init__(self, initial: float, maximum: float) -> None:
        self._initial = initial
        self._maximum = maximum
        self.failures = 0

    def next_delay(self) -> float:
        delay = min(self._maximum, self._initial * 2 ** self.failures)
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0


class OutboxRelay:
    """One relay round's pieces: publish a batch, report the backlog, purge old rows."""

    def __init__(
        self, *, storage: Storage, messaging: Messaging, settings: RelaySettings,
        feed: EventFeed, now: Callable[[], datetime],
    ) -> None:
        self._storage = storage
        self._messaging = messaging
        self.settings = settings
        self._feed = feed
        self._now = now

    def describe(self) -> str:
        """The store this relay publishes from, for people."""
        return str(self._storage.describe())

    def publish_batch(self) -> int:
        """Publish up to `batch_size` of the oldest unpublished rows; returns how many.

        Raises Unavailable when the store or the broker is down; then nothing was marked.
        """
        outbox = self._storage.outbox
        rows = outbox.claim(self.settings.batch_size)
        if not rows:
            return 0
        default = self.settings.topic
        publisher = self._messaging.publisher
        messages = [row.to_message(topic=default) for row in rows]
        # Consecutive runs per topic keep each aggregate's rows in seq order on its topic.
        topics = []
        for topic, run in groupby(messages, key=lambda m: m.topic):
            publisher.publish(topic, list(run))
            topics.append(topic)
        outbox.mark_published([row.seq for row in rows], self._now())
        shown = ", ".join(dict.fromkeys(topics))
        self._report(FeedKind.OUTBOX_PUBLISHED, f"{len(rows)} published to {shown} (seq {rows[0].seq}..{rows[-1].seq})",
                     count=len(rows), first_seq=rows[0].seq, last_seq=rows[-1].seq, topic=shown)
        return len(rows)

    def lag(self) -> RelayLag:
        outbox = self._storage.outbox
        oldest = outbox.oldest_pending_at()
        lag = max(0.0, (self._now() - oldest).total_seconds()) if oldest is not None else None
        return RelayLag(outbox.pending_count(), lag)

    def report_lag(self, lag: RelayLag | None = None, *, resumed: bool = False) -> RelayLag:
        lag = lag or self.lag()
        shown = "-" if lag.lag_seconds is None else f"{lag.lag_seconds:.1f}s"
        prefix = "relay resumed after an outage: " if resumed else ""
        self._report(FeedKind.RELAY_LAG, f"{prefix}outbox backlog {lag.pending}, lag {shown}",
                     pending=lag.pending, lag_seconds=lag.lag_seconds, resumed=resumed)
        return lag

    def purge(self) -> int:
        purged = self._storage.outbox.purge_published(self._now() - self.settings.retention)
        if purged:
            self._report(FeedKind.OUTBOX_PUBLISHED, f"purged {purged} published row(s)", purged=purged)
        return purged

    def report_error(self, text: str, **data: object) -> None:
        self._report(FeedKind.ERROR, text, component="relay", **data)

    def _report(self, kind: FeedKind, text: str, **data: object) -> None:
        self._feed.publish(FeedEvent(kind=kind, text=text, at=self._now(), data=dict(data)))


class RelayLoop:
    """The relay's schedule: publish while there is work, report lag and purge now and then,
    back off while the store or broker is unavailable, and say once when it is back."""

    def __init__(self, relay: OutboxRelay, monotonic: Callable[[], float]) -> None:
        self.relay = relay
        self._monotonic = monotonic
        settings = relay.settings
        self._backoff = Backoff(settings.backoff_initial, settings.backoff_max)
        self._next_report = 0.0
        self._next_purge = 0.0
        self._last_pending: int | None = None
        self.published = 0

    @property
    def failing(self) -> bool:
        return self._backoff.failures > 0

    def step(self) -> float:
        """One round; returns the seconds to wait before the next one."""
        settings = self.relay.settings
        try:
            self._housekeeping(settings)
            count = self.relay.publish_batch()
        except Unavailable as exc:
            if not self.failing:
                self.relay.report_error(f"relay paused by an outage, retrying: {exc}", error=type(exc).__name__)
            return self._backoff.next_delay()
        if self.failing:
            self.relay.report_lag(resumed=True)
        self._backoff.reset()
        self.published += count
        return 0.0 if count else settings.idle_wait

    def fail(self, error: Exception) -> float:
        """An unexpected error in a round: reported, then retried after a back-off like an outage."""
        self.relay.report_error(f"relay round failed: {type(error).__name__}: {error}", error=type(error).__name__)
        return self._backoff.next_delay()

    def _housekeeping(self, settings: RelaySettings) -> None:
        now = self._monotonic()
        if now >= self._next_report:
            lag = self.relay.lag()
            # An idle outbox is reported once, not every second: the feed is for what changes.
            if lag.pending or self._last_pending != 0:
                self.relay.report_lag(lag)
            self._last_pending = lag.pending
            self._next_report = now + settings.report_every.total_seconds()
        if now >= self._next_purge:
            self.relay.purge()
            self._next_purge = now + settings.purge_every.total_seconds()
