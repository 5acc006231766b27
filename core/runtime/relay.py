"""The outbox relay: moves committed outbox rows to the broker, losing none.

Order of effects per batch: claim rows (ascending seq) -> publish them and wait for the
broker's confirmation -> mark them published. A crash between the last two publishes the batch
again on restart (duplicates, which consumers drop by message id), never zero times.

A row the broker refuses for good (too large, invalid) is parked: set aside with the reason,
reported, and left to an operator to retry or drop, while the rest goes on. When the broker lost
its log (its incarnation changed: an embedded broker restarted with nothing), the retained
published rows are published again, so the outbox, not the broker, is the durable log.

`RelayLoop.step()` does one round and says how long to wait before the next, so any driver
(a thread, a CLI loop, a test) runs the same logic. The store's outbox is looked up each round,
so a store switched between rounds (the switchboard's live port) serves the next one. Each row
goes to the topic it names; rows written before rows named one go to `settings.topic`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby

from core.kernel.envelope import OutboxRecord
from core.kernel.errors import Refused, Unavailable
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


def claimable(unpublished: Iterable[OutboxRecord], parked: Iterable[int], limit: int) -> list[OutboxRecord]:
    """The rows `Outbox.claim` hands out, for stores that filter in Python: unpublished rows in
    seq order, without the parked ones and without those after a parked row of their aggregate
    (a consumer must not see an aggregate's later events before the one the broker refused)."""
    held = set(parked)
    blocked: set[str] = set()
    rows: list[OutboxRecord] = []
    for row in sorted(unpublished, key=lambda r: r.seq):
        if row.seq in held or row.aggregate_id in blocked:
            blocked.add(row.aggregate_id)
            continue
        rows.append(row)
        if len(rows) == limit:
            break
    return rows


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
        # The broker's incarnation the last round saw (None: not seen yet, or a broker that keeps its log).
        self._incarnation: str | None = None
        # Set once this relay had rows for the broker. Only then does it watch the broker while
        # idle: asking an unopened adapter would open it, and a relay with nothing to send must
        # not wait on a broker that does not answer (nor queue behind one that does).
        self._engaged = False

    def describe(self) -> str:
        """The store this relay publishes from, for people."""
        return str(self._storage.describe())

    def publish_batch(self) -> int:
        """Publish the oldest unpublished rows, `batch_size` at a time; returns how many went out.

        A row the broker refuses for good (Refused) is parked with the reason, and the claim is
        made again: the rows after it go on, except its own aggregate's (they wait behind it, so
        no consumer sees an aggregate's later events without the one refused). Raises Unavailable
        when the store or the broker is down; then nothing more was marked.
        """
        outbox = self._storage.outbox
        if self._engaged:
            self._requeue_if_the_broker_lost_its_log()
        published = 0
        # Each pass either ends the batch or parks one row: at most a batch's worth of passes.
        for _ in range(self.settings.batch_size):
            rows = outbox.claim(self.settings.batch_size)
            if not rows:
                return published
            if not self._engaged:
                self._engaged = True
                self._requeue_if_the_broker_lost_its_log()  # the first look: remembers the incarnation
            sent, refused = self._publish(rows)
            if sent:
                outbox.mark_published([row.seq for row in sent], self._now())
                self._report_published(sent)
                published += len(sent)
            if refused is None:
                return published
            self._park(*refused)
        return published

    def _publish(self, rows: list[OutboxRecord]) -> tuple[list[OutboxRecord], tuple[OutboxRecord, str] | None]:
        """Publish `rows` by consecutive runs per topic, which keeps each aggregate's rows in seq
        order on its topic. Returns the rows the broker confirmed and, when it refused one for
        good, that row and why (the rest of that run and after it stay unpublished: sent again,
        they are duplicates consumers drop)."""
        default = self.settings.topic
        publisher = self._messaging.publisher
        sent: list[OutboxRecord] = []
        for topic, run in groupby(((row, row.to_message(topic=default)) for row in rows), key=lambda p: p[1].topic):
            pairs = list(run)
            try:
                publisher.publish(topic, [message for _, message in pairs])
            except Refused as exc:
                refused = next((row for row, _ in pairs if row.event_id == exc.message_id), None)
                if refused is None:
                    raise  # the publisher named a message it was not given: a bug, not a refusal
                return sent, (refused, exc.reason)
            sent.extend(row for row, _ in pairs)
        return sent, None

    def _park(self, row: OutboxRecord, reason: str) -> None:
        if not self._storage.outbox.park(row.seq, reason, self._now()):
            return  # parked (or dropped) by someone else meanwhile
        self._report(FeedKind.OUTBOX_PARKED,
                     f"parked outbox row seq {row.seq} ({row.type}, key {row.aggregate_id}): the broker refused it "
                     f"for good: {reason}. Later rows of key {row.aggregate_id} wait behind it; "
                     f"retry or drop it (orderhex outbox retry|drop {row.seq})",
                     action="parked", seq=row.seq, event_id=row.event_id, key=row.aggregate_id, type=row.type,
                     topic=row.topic or self.settings.topic, reason=reason, store=self.describe())

    def _requeue_if_the_broker_lost_its_log(self) -> None:
        """When the broker's incarnation changed since the last round, it lost what it held: every
        retained row is published again, in seq order (the consumers' inboxes drop what they had)."""
        incarnation = self._messaging.incarnation()
        if incarnation is None:
            return
        if self._incarnation is not None and incarnation != self._incarnation:
            count = self._storage.outbox.requeue_published()
            self._report(FeedKind.OUTBOX_REQUEUED,
                         f"the broker lost its log ({self._messaging.describe()}): publishing {count} retained "
                         f"outbox row(s) again", count=count, store=self.describe(),
                         incarnation=incarnation, previous=self._incarnation)
        # Remembered only once the rows are requeued: a store that failed to requeue is tried again.
        self._incarnation = incarnation

    def _report_published(self, rows: list[OutboxRecord]) -> None:
        topics = ", ".join(dict.fromkeys(row.topic or self.settings.topic for row in rows))
        self._report(FeedKind.OUTBOX_PUBLISHED,
                     f"{len(rows)} published to {topics} (seq {rows[0].seq}..{rows[-1].seq})",
                     count=len(rows), first_seq=rows[0].seq, last_seq=rows[-1].seq, topic=topics)

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
