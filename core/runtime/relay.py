"""The outbox relay: moves committed outbox rows to the broker, losing none.

Order of effects per batch: claim rows (ascending seq) -> publish them and wait for the
broker's confirmation -> mark them published. A crash between the last two publishes the batch
again on restart (duplicates, which consumers drop by message id), never zero times.

With a StreamingPublisher (Kafka, memory) the batches are pipelined: the relay claims the
store's raw rows (OutboxRow, no record per row) above the highest seq it has handed over, hands
them to the producer without waiting, keeps up to `in_flight` batches with the broker, and marks
confirmed batches in order, `mark_every` rows per write (a range per run of seqs, not a bind per
row). That high-water mark lives only within one round: each round starts again from the lowest
unpublished row, so a row committed late with a lower seq (PostgreSQL, where sequence order is
not commit order; its claims stay per-row, FOR UPDATE SKIP LOCKED) goes out next round, never
skipped. On SQLite and files commit order is seq order (one writer), so nothing falls behind it.
At most `claims_held` batches are claimed and not marked yet: on PostgreSQL each holds a
transaction, so a pooled connection.

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

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby

from core.kernel.envelope import OutboxRecord
from core.kernel.errors import Refused, Unavailable
from core.kernel.feed import FeedEvent, FeedKind
from ports.messaging import Messaging, Sending, StreamingPublisher
from ports.storage import Outbox, OutboxRow, Storage
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
    # With a streaming publisher: batches with the broker at once, and batches per round (the
    # round's end waits for all of them, then the lag report and the purge get their turn).
    in_flight: int = 8
    window: int = 64
    # Confirmed rows marked together (one write transaction): fewer commits, same guarantee.
    mark_every: int = 4000
    # Batches claimed and not marked yet (with the broker, confirmed, or being marked), at most:
    # on PostgreSQL each holds its claim's transaction, so one pooled connection (engine.py's
    # pool is sized for these and the service's own). 24 = in_flight, plus mark_every's worth of
    # 500-row batches waiting, plus as many being marked: at that size nothing waits for a mark
    # that the marks keep up with.
    claims_held: int = 24


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


class _Marking:
    """Marks confirmed batches on a thread of its own, in order, while the relay goes on
    producing: the store's write (a commit, an fsync) overlaps the next claims and sends.
    `wait()` returns how many rows it marked since the last wait, or raises what a mark raised."""

    def __init__(self, mark: Callable[[list[list[OutboxRow]]], int]) -> None:
        self._mark = mark
        self._work: queue.SimpleQueue[list[list[OutboxRow]] | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[int | BaseException] = queue.SimpleQueue()
        # Batches per submission not collected yet, oldest first; their sum is `queued`.
        self._sizes: deque[int] = deque()
        self.queued = 0
        self._marked = 0
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def submit(self, batches: list[list[OutboxRow]]) -> None:
        if not any(batches):
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="outbox-relay-marks", daemon=True)
            self._thread.start()
        self._sizes.append(len(batches))
        self.queued += len(batches)
        self._work.put(batches)

    def make_room(self, unmarked: list[list[OutboxRow]], in_flight: int, limit: int) -> list[list[OutboxRow]]:
        """Before one more claim: keeps the batches claimed and not marked (`in_flight` with the
        broker, `unmarked` confirmed, those queued here) below `limit`. At it, the confirmed go
        to their mark now and this waits for marks until one more fits. Returns what is still
        unmarked. Raises what a mark raised."""
        if in_flight + len(unmarked) + self.queued < limit:
            return unmarked
        self.submit(unmarked)
        while self.queued > limit - 1 - in_flight:
            self._collect()
            if self._error is not None:
                raise self._error
        return []

    def wait(self, *, raising: bool = True) -> int:
        while self._sizes:
            self._collect()
        marked, error, self._marked, self._error = self._marked, self._error, 0, None
        if self._thread is not None:
            self._work.put(None)
            self._thread.join()
            self._thread = None
        if error is not None and raising:
            raise error
        return marked

    def _collect(self) -> None:
        result = self._done.get()
        self.queued -= self._sizes.popleft()
        if isinstance(result, BaseException):
            self._error = self._error or result
        else:
            self._marked += result

    def _run(self) -> None:
        failed = False
        while (batches := self._work.get()) is not None:
            if failed:
                # A later batch must not be marked once an earlier mark failed: marks keep seq order.
                self._done.put(Unavailable("outbox", "an earlier mark failed", "it is tried again"))
                continue
            try:
                self._done.put(self._mark(batches))
            except BaseException as exc:  # handed to the relay thread, which raises it
                failed = True
                self._done.put(exc)


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
        # Claimed before the broker is asked for: a relay with nothing to send must not open
        # (nor wait on) a broker that does not answer.
        first = outbox.claim_rows(self.settings.batch_size)
        if not first:
            return 0
        publisher = self._messaging.publisher
        if isinstance(publisher, StreamingPublisher):
            return self._stream(outbox, publisher, first)
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

    def _stream(self, outbox: Outbox, publisher: StreamingPublisher, first: list[OutboxRow]) -> int:
        """`publish_batch` pipelined: up to `in_flight` batches are with the broker while the
        oldest confirms; confirmed batches are marked in order, `mark_every` rows at a time, on a
        thread of their own. The claims go on above the highest
        seq handed over (a high-water mark, within this call); the next call starts again from
        the lowest unpublished row, so a row that committed late with a lower seq (PostgreSQL:
        sequence order is not commit order there) goes out then, not never.

        A refusal: the rows before the refused one that the broker confirmed are marked, the
        refused row is parked, the batches behind it are left unmarked (sent again, they are
        duplicates consumers drop) and the claims start again from the lowest unpublished row.
        A row refused before it left (too large for the producer) stops its sending there, so no
        later row is handed over after it. Unavailable leaves every unmarked row as it was.
        """
        unmarked: list[list[OutboxRow]] = []
        marking = _Marking(lambda batches: self._mark(outbox, batches))
        try:
            return self._pipeline(outbox, publisher, first, marking, unmarked)
        finally:
            marking.wait(raising=False)

    def _pipeline(self, outbox: Outbox, publisher: StreamingPublisher, first: list[OutboxRow],
                  marking: _Marking, unmarked: list[list[OutboxRow]]) -> int:
        settings = self.settings
        in_flight: deque[tuple[list[OutboxRow], Sending]] = deque()
        after = claims = published = parks = 0
        held = max(settings.claims_held, settings.in_flight + 1)
        exhausted = False
        while True:
            while not exhausted and len(in_flight) < settings.in_flight and claims < settings.window:
                if not first:
                    unmarked = marking.make_room(unmarked, len(in_flight), held)
                rows, first = first or outbox.claim_rows(settings.batch_size, after), []
                if not rows:
                    exhausted = True
                    break
                if not self._engaged:
                    self._engaged = True
                    self._requeue_if_the_broker_lost_its_log()  # the first look: remembers the incarnation
                claims += 1
                after = rows[-1].seq
                sending = publisher.send(rows, settings.topic)
                in_flight.append((rows, sending))
                # A row refused before it left stopped the sending: nothing may follow it now.
                exhausted = exhausted or sending.halted
            if not in_flight:
                marking.submit(unmarked)
                return published + marking.wait()
            rows, sending = in_flight.popleft()
            try:
                sending.wait()
            except Unavailable:
                marking.submit(unmarked)  # what the broker confirmed before the outage
                marking.wait()
                raise
            except Refused as exc:
                refused = next((row for row in rows if row.event_id == exc.message_id), None)
                if refused is None:
                    raise  # the publisher named a message it was not given: a bug, not a refusal
                confirmed = sending.confirmed()
                sent = [row for row in rows if row.seq < refused.seq and row.event_id in confirmed]
                marking.submit([*unmarked, sent])
                published += marking.wait()
                unmarked = []
                self._park(refused, exc.reason)
                parks += 1
                if parks == settings.batch_size:
                    return published
                # Claimed again from the lowest unpublished row: the rows behind the refused one
                # (its own aggregate's excepted) go on; those already sent go again as duplicates.
                in_flight.clear()
                after, exhausted = 0, False
                continue
            # Marked a few batches at a time (one write), and the rest when the pipeline runs dry.
            unmarked.append(rows)
            if sum(map(len, unmarked)) >= settings.mark_every:
                marking.submit(unmarked)
                unmarked = []

    def _mark(self, outbox: Outbox, batches: list[list[OutboxRow]]) -> int:
        """Mark confirmed batches in one write; each is reported as the batch it was."""
        batches = [rows for rows in batches if rows]
        if not batches:
            return 0
        outbox.mark_published([row.seq for rows in batches for row in rows], self._now())
        for rows in batches:
            self._report_published(rows)
        return sum(map(len, batches))

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

    def _park(self, row: OutboxRecord | OutboxRow, reason: str) -> None:
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

    def _report_published(self, rows: Sequence[OutboxRecord] | Sequence[OutboxRow]) -> None:
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
