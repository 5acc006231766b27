"""The Publisher, Subscriber and Messaging ports over Kafka (confluent-kafka / librdkafka).

On the wire a Message is one Kafka record: key = the message key (an aggregate id, so one
order's events share a partition and keep their order), value = the payload, headers = the
message's headers plus two of the transport's own, `message_id` and `message_type`, which are
taken off again on receipt. A record without `message_id` (sent by another client) gets the id
`<topic>:<partition>:<offset>`, stable across redeliveries.

Every client logs through Python logging (adapters/outbound/kafka/logs.py), and whether the
broker answers is tracked in one BrokerState per adapter, so an outage is one "broker down" line
and one "broker up again" line, not a line per reconnect. Waits are bounded: building the adapter
and `check()` first try a TCP connection (refused at once when nothing listens), and a publish
in flight gives up when `interrupt()` is called (a relay stopping: the outbox sends it again).

A message the broker refuses for good (over its size limit, invalid) raises Refused naming it,
not Unavailable: retrying cannot help, and the caller sets it aside. On the data directory's
embedded broker (`embedded`), a connection failure makes the adapter look for the broker again
(`follow`): started again if gone, on its old port when free; the producer and admin client
retarget, group members leave before it restarts and join the new one, and `incarnation()`
(its pid and start time) tells a relay that the broker lost its log.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka import Message as KafkaRecord
from confluent_kafka.admin import AdminClient, NewTopic

from adapters.outbound.kafka.embedded import EmbeddedAddress
from adapters.outbound.kafka.logs import LIBRDKAFKA, BrokerState, broker_state
from core.kernel.envelope import Message
from core.kernel.errors import Refused, Unavailable
from ports.storage import OutboxRow

log = logging.getLogger("orderhex.kafka")

# What the broker (or librdkafka on its behalf) refuses for good: sending the same message again
# cannot succeed, so the caller is told which one (Refused) rather than to retry (Unavailable).
PERMANENT = frozenset({
    KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE, KafkaError.INVALID_RECORD,
    KafkaError.TOPIC_EXCEPTION, KafkaError.INVALID_TIMESTAMP, KafkaError.UNSUPPORTED_FOR_MESSAGE_FORMAT,
    KafkaError.POLICY_VIOLATION, KafkaError._INVALID_ARG,
})


def permanent(error: KafkaError) -> bool:
    return error.code() in PERMANENT

ID_HEADER = "message_id"
TYPE_HEADER = "message_type"
_TRANSPORT_HEADERS = (ID_HEADER, TYPE_HEADER)


@dataclass(frozen=True, kw_only=True)
class KafkaSettings:
    bootstrap_servers: str
    partitions: int = 1
    delivery_timeout_ms: int = 30_000
    session_timeout_ms: int = 45_000
    heartbeat_interval_ms: int = 3_000
    # How long the group waits for a member that stopped polling before it rebalances without
    # it (librdkafka's max.poll.interval.ms, default 300 s): a new member cannot join until then.
    max_poll_interval_ms: int = 60_000
    topics: tuple[str, ...] = ()
    probe_timeout: float = 1.0

    def what(self) -> str:
        return f"Kafka at {self.bootstrap_servers}"

    def hint(self) -> str:
        return "start the broker or fix messaging.bootstrap_servers"

    def client_config(self, state: BrokerState | None = None) -> dict[str, Any]:
        """What every client of this adapter shares: the servers, and librdkafka's log and errors
        routed through Python logging (served by the client's poll/flush)."""
        config: dict[str, Any] = {"bootstrap.servers": self.bootstrap_servers, "logger": LIBRDKAFKA}
        if state is not None:
            config["error_cb"] = state.on_error
        return config

    def addresses(self) -> list[tuple[str, int]]:
        out = []
        for server in self.bootstrap_servers.split(","):
            host, _, port = server.strip().rpartition(":")
            if host and port.isdigit():
                out.append((host.strip("[]"), int(port)))
        return out

    def probe(self) -> None:
        """Raise Unavailable at once when no bootstrap server accepts a TCP connection (a broker
        that is down refuses it in microseconds; librdkafka would retry until a timeout)."""
        addresses = self.addresses()
        if not addresses:
            return  # a form this check does not know: leave it to librdkafka
        errors = []
        for host, port in addresses:
            try:
                with socket.create_connection((host, port), timeout=self.probe_timeout):
                    return
            except OSError as exc:
                errors.append(f"{host}:{port}: {exc.strerror or exc}")
        raise Unavailable(self.what(), "no broker answers (" + "; ".join(errors) + ")", self.hint())


class TopicRefused(Exception):
    """The broker will not create this topic (an invalid name): every message for it is refused."""

    def __init__(self, topic: str, reason: str) -> None:
        super().__init__(f"topic {topic!r} cannot be created: {reason}")
        self.topic = topic
        self.reason = reason


class TopicAdmin:
    """Creates topics that do not exist yet (idempotent, remembered per process)."""

    def __init__(self, settings: KafkaSettings, state: BrokerState | None = None) -> None:
        self._settings = settings
        self._state = state or broker_state(settings.what())
        self._client: AdminClient | None = None
        self._known: set[str] = set()
        self._lock = threading.Lock()

    @property
    def client(self) -> AdminClient:
        if self._client is None:
            self._client = AdminClient(self._settings.client_config(self._state))
        return self._client

    def ensure(self, topics: Sequence[str], *, force: bool = False,
               interrupted: threading.Event | None = None, timeout: float | None = None) -> None:
        """Create the topics not known to exist, waiting `timeout` seconds at most (default: the
        delivery timeout). `interrupted`, when set, ends the wait at once."""
        with self._lock:
            missing = [t for t in dict.fromkeys(topics) if force or t not in self._known]
            if not missing:
                return
            timeout = self._settings.delivery_timeout_ms / 1000 if timeout is None else timeout
            client = self.client
            client.poll(0)  # callbacks queued since the last use are old news: serve them first
            futures = client.create_topics(
                [NewTopic(t, self._settings.partitions, 1) for t in missing], operation_timeout=timeout,
                request_timeout=timeout,
            )
            try:
                for topic, future in futures.items():
                    self._created(topic, future, timeout, interrupted)
            finally:
                client.poll(0)  # serves the client's log lines and error callbacks

    def _created(self, topic: str, future: Future[None], timeout: float, interrupted: threading.Event | None) -> None:
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    future.result(0.1)
                    break
                except TimeoutError:
                    if interrupted is not None and interrupted.is_set():
                        raise Unavailable(self._settings.what(), f"creating topic {topic} was interrupted",
                                          "it is tried again") from None
                    if time.monotonic() > deadline:
                        raise
        except KafkaException as exc:
            if permanent(exc.args[0]):
                raise TopicRefused(topic, str(exc.args[0])) from exc
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                self._state.failed(exc.args[0])
                raise Unavailable(self._settings.what(), f"cannot create topic {topic}: {exc}",
                                  self._settings.hint()) from exc
        except (Unavailable, TopicRefused):
            raise
        except Exception as exc:  # a timeout surfaces as a bare concurrent.futures error
            self._state.failed(f"creating topic {topic}: no answer in {timeout:g} s")
            raise Unavailable(self._settings.what(), f"cannot create topic {topic}: {exc!r}",
                              self._settings.hint()) from exc
        self._state.answered()
        self._known.add(topic)

    def forget(self) -> None:
        """After a failure the broker may have restarted empty: check the topics again."""
        with self._lock:
            self._known.clear()

    def close(self) -> None:
        with self._lock:
            self._client = None

    def retarget(self, settings: KafkaSettings) -> None:
        """Talk to the broker at `settings` from now on; topics are checked again there."""
        with self._lock:
            self._settings, self._client = settings, None
            self._known.clear()

    def check(self) -> None:
        """Returns when the broker answers a metadata request; a refused connection fails at once,
        a broker that accepts but does not answer after at most 2 s."""
        try:
            self._settings.probe()
        except Unavailable as exc:
            self._state.failed(exc.reason)
            raise
        client = self.client
        client.poll(0)  # callbacks queued since the last use are old news: serve them first
        try:
            client.list_topics(timeout=min(2.0, self._settings.delivery_timeout_ms / 1000))
        except KafkaException as exc:
            self._state.failed(exc.args[0])
            raise Unavailable(self._settings.what(), str(exc.args[0]), self._settings.hint()) from exc
        finally:
            client.poll(0)
        self._state.answered()


class KafkaPublisher:
    """The Publisher port: an idempotent producer; `publish` waits for every delivery report.

    `interrupt()` (from another thread) makes a publish in flight give up within about 0.1 s,
    raising Unavailable: nothing was confirmed, so the caller's outbox sends it again later.
    """

    def __init__(self, settings: KafkaSettings, admin: TopicAdmin, state: BrokerState | None = None,
                 on_outage: Callable[[], object] | None = None, before: Callable[[], object] | None = None) -> None:
        self._settings = settings
        self._admin = admin
        self._state = state or broker_state(settings.what())
        # Called after a publish found the broker unavailable: the embedded broker's clients look
        # for where it listens now. `before` each publish: its topics are checked again on a
        # broker that restarted since.
        self._on_outage = on_outage
        self._before = before
        # One publish at a time: flush() waits for the whole queue, so publishes must not interleave.
        self._lock = threading.Lock()
        self._producer: Producer | None = None
        # Set while a publish is in flight; interrupt() sets the event of the one under way.
        self._in_flight: threading.Event | None = None
        # Sendings not yet waited for: interrupt() makes their wait give up too.
        self._sendings: weakref.WeakSet[KafkaSending] = weakref.WeakSet()

    @property
    def producer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer({
                **self._settings.client_config(self._state),
                "enable.idempotence": True,
                "message.timeout.ms": self._settings.delivery_timeout_ms,
                # publish() flushes as soon as the batch is queued: lingering would only delay the
                # confirmation the caller waits for (5 ms cost 13 ms per 500-message batch here).
                "linger.ms": 1,
            })
        return self._producer

    def publish(self, topic: str, messages: Sequence[Message]) -> None:
        if not messages:
            return
        if self._before is not None:
            self._before()
        try:
            self._publish(topic, messages)
        except Unavailable:
            if self._on_outage is not None:
                self._on_outage()
            raise

    def retarget(self, settings: KafkaSettings) -> None:
        """Publish to the broker at `settings` from the next publish on (a publish in flight ends first)."""
        with self._lock:
            self._discard()
            self._settings = settings

    def _publish(self, topic: str, messages: Sequence[Message]) -> None:
        with self._lock:
            interrupted = self._in_flight = threading.Event()
            try:
                self._admin.ensure([topic], interrupted=interrupted)
                self._send(topic, messages, interrupted)
            except TopicRefused as exc:
                raise Refused(messages[0].id, str(exc)) from exc
            except Refused:
                # A producer that had a message refused mid-batch may hold state for it: start afresh.
                self._discard()
                raise
            except Unavailable:
                # Queued copies must not go out after the caller's retry, and a producer whose
                # broker restarted empty carries a stale producer id: start afresh.
                self._discard()
                self._admin.forget()
                raise
            finally:
                self._in_flight = None
        self._state.answered()

    def interrupt(self) -> None:
        """Make the publish in flight, if any, give up now (it raises Unavailable)."""
        in_flight = self._in_flight
        if in_flight is not None:
            in_flight.set()
        for sending in list(self._sendings):
            sending.interrupted.set()

    def send(self, rows: Sequence[OutboxRow], default_topic: str) -> KafkaSending:
        """Produce `rows` and return without waiting (StreamingPublisher): librdkafka pipelines
        them with those sent before, and `KafkaSending.wait()` collects the delivery reports.
        Headers are built straight from the rows, as `OutboxRecord.to_message` and `_send` would."""
        if self._before is not None:
            self._before()
        sending = KafkaSending(self, len(rows))
        self._sendings.add(sending)
        with self._lock:
            try:
                for topic in dict.fromkeys(row.topic or default_topic for row in rows):
                    self._admin.ensure([topic], interrupted=sending.interrupted)
            except TopicRefused as exc:
                sending.halt(rows, 0, exc)
                return sending
            except Unavailable:
                self._discard()
                self._admin.forget()
                self._sendings.discard(sending)
                if self._on_outage is not None:
                    self._on_outage()
                raise
            producer = self.producer
            produce = producer.produce
            report = sending.report
            for index, (_seq, event_id, aggregate_id, version, type_, payload, row_topic) in enumerate(rows):
                wire_id = event_id.encode()
                wire_type = type_.encode()
                key = aggregate_id.encode()
                headers = [("event_id", wire_id), ("type", wire_type), ("aggregate_version", str(version).encode()),
                           ("correlation_id", key), ("causation_id", wire_id), (ID_HEADER, wire_id),
                           (TYPE_HEADER, wire_type)]
                while True:
                    try:
                        produce(row_topic or default_topic, value=payload.encode(), key=key, headers=headers,
                                on_delivery=report)
                        break
                    except BufferError:
                        producer.poll(0.05)
                        if sending.interrupted.is_set():
                            sending.halt(rows, index, None)
                            return sending
                    except KafkaException as exc:
                        # Refused before it left (permanent), or the producer failed: either way
                        # the rows after it must not overtake it.
                        sending.halt(rows, index, exc.args[0] if permanent(exc.args[0]) else None)
                        return sending
        sending.handed(rows)
        return sending

    def _send(self, topic: str, messages: Sequence[Message], interrupted: threading.Event) -> None:
        producer = self.producer
        failures: list[KafkaError] = []
        refused: list[tuple[str, KafkaError]] = []

        def delivered(message_id: str, error: KafkaError | None, _record: KafkaRecord) -> None:
            if error is None:
                return
            if permanent(error):
                refused.append((message_id, error))
            else:
                failures.append(error)

        for message in messages:
            headers = {**message.headers, ID_HEADER: message.id, TYPE_HEADER: message.type}
            while True:
                try:
                    producer.produce(topic, value=message.payload, key=message.key.encode(),
                                     headers=wire_headers(headers), on_delivery=partial(delivered, message.id))
                    break
                except BufferError:
                    producer.poll(0.05)
                    if interrupted.is_set():
                        break
                except KafkaException as exc:
                    # Refused before it left (larger than message.max.bytes): the rest may still go.
                    if not permanent(exc.args[0]):
                        raise Unavailable(self._settings.what(), f"publishing to {topic} failed: {exc.args[0]}",
                                          self._settings.hint()) from exc
                    refused.append((message.id, exc.args[0]))
                    break
        deadline = time.monotonic() + self._settings.delivery_timeout_ms / 1000 + 5
        remaining = len(producer)
        reported = self._state.failures
        while remaining and time.monotonic() < deadline and not failures and not interrupted.is_set():
            remaining = producer.flush(0.1)
            if remaining and self._state.failures != reported:
                # librdkafka says every broker is down: waiting out the delivery timeout would only
                # delay the retry (a fresh producer, once the broker is back, with the outbox's copy).
                break
        if refused:
            # Before an outage's Unavailable: retrying the batch as it is would be refused again.
            message_id, error = refused[0]
            log.warning("broker refused message %s on %s for good: %s", message_id, topic, error.str(),
                        extra={"message_id": message_id, "topic": topic, "error": error.name()})
            raise Refused(message_id, f"{topic}: {error.str()} ({error.name()})")
        if failures or remaining:
            if failures:
                reason = str(failures[0])
            elif interrupted.is_set():
                reason = f"interrupted with {remaining} message(s) not confirmed"
            elif self._state.failures != reported:
                reason = f"the broker went down with {remaining} message(s) not confirmed"
            else:
                reason = f"{remaining} message(s) not confirmed in time"
            if not interrupted.is_set():
                self._state.failed(reason)
            raise Unavailable(self._settings.what(), f"publishing to {topic} failed: {reason}", self._settings.hint())

    def _discard(self) -> None:
        if self._producer is not None:
            self._producer.purge()
            self._producer.flush(0)
            self._producer = None

    def close(self) -> None:
        """Drop the connection (a publish in flight is interrupted first: the caller's outbox sends
        it again); the next publish opens a new one."""
        self.interrupt()
        with self._lock:
            if self._producer is not None:
                # Nothing is queued between publishes (each one waits for its delivery reports or
                # purges): this only serves the last log lines and callbacks.
                self._producer.flush(min(5.0, self._settings.delivery_timeout_ms / 1000))
                self._producer = None


class KafkaSending:
    """Rows handed to the producer by `KafkaPublisher.send`, their delivery reports coming in.

    Reports are served by whichever thread polls the producer; they are only appended here
    (atomic), and the waiting thread counts them. A report carries no row: the id of a refused
    one is read off its record's headers (rare), and `confirmed()` is only known for a sending
    whose every report is a success (all of it) or that stopped before a row (those before it).
    """

    def __init__(self, publisher: KafkaPublisher, count: int) -> None:
        self._publisher = publisher
        self._expected = count
        # One entry per delivery report; the failed ones also in `_errors`.
        self._reports: list[KafkaError | None] = []
        self._errors: list[tuple[KafkaError, KafkaRecord]] = []
        self._rows: Sequence[OutboxRow] = ()
        self.interrupted = threading.Event()
        self.halted = False
        # The row that stopped the sending before it left, and the broker's refusal (None: it
        # stopped on an outage or an interrupt, not a refusal).
        self._stopped_at: tuple[str, KafkaError | TopicRefused | None] | None = None

    def report(self, error: KafkaError | None, record: KafkaRecord) -> None:
        if error is not None:
            self._errors.append((error, record))
        self._reports.append(error)

    def handed(self, rows: Sequence[OutboxRow]) -> None:
        self._rows = rows

    def halt(self, rows: Sequence[OutboxRow], index: int, refusal: KafkaError | TopicRefused | None) -> None:
        self.halted = True
        self._stopped_at = (rows[index].event_id, refusal)
        self._rows = rows[:index]
        self._expected = index

    def confirmed(self) -> set[str]:
        if self._errors or len(self._reports) < self._expected:
            return set()
        return {row.event_id for row in self._rows}

    def wait(self) -> None:
        publisher = self._publisher
        settings = publisher._settings
        producer = publisher._producer
        state = publisher._state
        deadline = time.monotonic() + settings.delivery_timeout_ms / 1000 + 5
        reported = state.failures
        expected = self._expected
        try:
            while len(self._reports) < expected and producer is not None and time.monotonic() < deadline \
                    and not self.interrupted.is_set() and not self._errors:
                producer.poll(0.05)
                if len(self._reports) < expected and state.failures != reported:
                    break
            self._raise(settings, state, reported, expected)
        finally:
            publisher._sendings.discard(self)

    def _raise(self, settings: KafkaSettings, state: BrokerState, reported: int, expected: int) -> None:
        publisher = self._publisher
        refused = [(_id_of(record), error) for error, record in list(self._errors) if permanent(error)]
        stopped = self._stopped_at
        if stopped is not None and isinstance(stopped[1], TopicRefused):
            raise Refused(stopped[0], str(stopped[1]))
        if stopped is not None and stopped[1] is not None:
            refused.insert(0, (stopped[0], stopped[1]))
        if refused:
            message_id, error = refused[0]
            log.warning("broker refused message %s for good: %s", message_id, error.str(),
                        extra={"message_id": message_id, "error": error.name()})
            with publisher._lock:
                publisher._discard()
            raise Refused(message_id, f"{error.str()} ({error.name()})")
        failures = list(self._errors)
        missing = expected - len(self._reports)
        if not failures and not missing and stopped is None:
            state.answered()
            return
        if failures:
            reason = str(failures[0][0])
        elif self.interrupted.is_set():
            reason = "interrupted with message(s) not confirmed"
        elif state.failures != reported:
            reason = "the broker went down with message(s) not confirmed"
        else:
            reason = f"{missing} message(s) not confirmed in time"
        if not self.interrupted.is_set():
            state.failed(reason)
        with publisher._lock:
            publisher._discard()
        publisher._admin.forget()
        if publisher._on_outage is not None:
            publisher._on_outage()
        raise Unavailable(settings.what(), f"publishing failed: {reason}", settings.hint())


def _id_of(record: KafkaRecord) -> str:
    for name, value in record.headers() or []:
        if name == ID_HEADER:
            return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    return ""


MOVED_EVERY = 1.0  # seconds between two looks at whether the embedded broker restarted


class KafkaSubscriber:
    """The Subscriber port: one consumer-group member; `ack` stores the offset after the message,
    and librdkafka commits stored offsets in the background, on rebalance and on close.

    Joining the group is logged ("joined group G, assigned partitions t[0], ... after N s"), and
    so are revocations and lost assignments."""

    def __init__(self, settings: KafkaSettings, topics: Sequence[str], group: str,
                 state: BrokerState | None = None, clock: Callable[[], float] = time.monotonic,
                 *, moved: Callable[[], str | None] | None = None) -> None:
        self._settings = settings
        self._group = group
        self._state = state or broker_state(settings.what())
        self._clock = clock
        self._subscribed_at = clock()
        self._next_probe = 0.0
        # Says why this member must be built again (the embedded broker restarted, or moved); None
        # while it need not. Asked at most every MOVED_EVERY seconds.
        self._moved = moved
        self._next_moved = clock() + MOVED_EVERY
        self._quiesced: str | None = None
        self.assignment: list[tuple[str, int]] = []
        self._consumer = Consumer({
            **settings.client_config(self._state),
            "group.id": group,
            "enable.auto.offset.store": False,
            "enable.auto.commit": True,
            "auto.commit.interval.ms": 500,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": settings.session_timeout_ms,
            "heartbeat.interval.ms": settings.heartbeat_interval_ms,
            "max.poll.interval.ms": max(settings.max_poll_interval_ms, settings.session_timeout_ms),
            "topic.metadata.refresh.interval.ms": 5_000,
        })
        log.info("joining group %s for %s", group, ", ".join(topics),
                 extra={"group": group, "topics": list(topics), "broker": settings.bootstrap_servers})
        self._consumer.subscribe(list(topics), on_assign=self._assigned, on_revoke=self._revoked,
                                 on_lost=self._lost)

    def _assigned(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assignment = sorted((p.topic, p.partition) for p in partitions)
        shown = ", ".join(f"{t}[{n}]" for t, n in self.assignment) or "none"
        seconds = round(self._clock() - self._subscribed_at, 1)
        self._state.answered()
        log.info("joined group %s, assigned partitions %s after %.1f s", self._group, shown, seconds,
                 extra={"group": self._group, "partitions": [f"{t}[{n}]" for t, n in self.assignment],
                        "join_seconds": seconds})

    def _revoked(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._subscribed_at = self._clock()
        log.info("group %s revoked partitions %s (rebalancing)", self._group,
                 ", ".join(f"{p.topic}[{p.partition}]" for p in partitions) or "none",
                 extra={"group": self._group})
        self.assignment = []

    def _lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._subscribed_at = self._clock()
        log.warning("group %s lost partitions %s (session timed out)", self._group,
                    ", ".join(f"{p.topic}[{p.partition}]" for p in partitions) or "none",
                    extra={"group": self._group})
        self.assignment = []

    def poll(self, timeout: float, max_messages: int = 100) -> list[Message]:
        if self._quiesced is not None:
            self._check_moved()
        deadline = time.monotonic() + timeout
        records: list[KafkaRecord] = []
        while not records:
            left = deadline - time.monotonic()
            if left <= 0:
                self._probe_if_down()
                return []
            first = self._consumer.poll(left)
            if first is None:
                self._probe_if_down()
                return []
            records = [first]
            if max_messages > 1:
                # Only what is already fetched: the caller gets its batch without waiting longer.
                records.extend(self._consumer.consume(max_messages - 1, 0))
            records = [r for r in records if self._usable(r)]
        self._state.answered()
        return [record_to_message(r) for r in records]

    def quiesce(self, reason: str) -> None:
        """Stop taking part in the group now (from any thread: librdkafka's unsubscribe is
        thread-safe); the next poll raises Unavailable so the caller builds a new member. Before an
        embedded broker is started again: a member left subscribed would join the new broker's
        group at once, and Tansu keeps that ghost as the group's leader until the rebalance
        timeout, so no member of the group gets a partition for a minute."""
        self._quiesced = reason
        with contextlib.suppress(KafkaException, RuntimeError):
            self._consumer.unsubscribe()

    def _check_moved(self) -> None:
        if self._quiesced is not None:
            raise Unavailable(self._settings.what(), self._quiesced, "this member joins the group again")
        if self._moved is None or self._clock() < self._next_moved:
            return
        self._next_moved = self._clock() + MOVED_EVERY
        reason = self._moved()
        if reason is not None:
            raise Unavailable(self._settings.what(), reason, "this member leaves and joins the group again")

    def _probe_if_down(self) -> None:
        """An idle member sees no record to say the broker is back: ask it, now and then."""
        self._check_moved()
        if self._state.up is not False or self._clock() < self._next_probe:
            return
        self._next_probe = self._clock() + 2.0
        try:
            self._settings.probe()
            self._consumer.list_topics(timeout=1.0)
        except (Unavailable, KafkaException):
            return
        self._state.answered()

    def _usable(self, record: KafkaRecord) -> bool:
        error = record.error()
        if error is None:
            return True
        if error.fatal():
            raise Unavailable(self._settings.what(), str(error), self._settings.hint())
        if error.code() == KafkaError._ALL_BROKERS_DOWN:
            self._state.failed(error.str())
        return False

    def ack(self, message: Message) -> None:
        if message.offset is None or message.partition is None:
            raise ValueError("only a polled message can be acknowledged")
        try:
            self._consumer.store_offsets(offsets=[TopicPartition(message.topic, message.partition, message.offset + 1)])
        except KafkaException as exc:
            # The partition went to another member: it redelivers the message (at-least-once).
            if exc.args[0].code() != KafkaError._STATE:
                raise

    def close(self) -> None:
        """Leave the group (commits the stored offsets). With the broker down librdkafka cannot
        say goodbye; it gives up after a few seconds and the group forgets this member after
        its session timeout."""
        self._consumer.close()
        log.info("left group %s", self._group, extra={"group": self._group})


class KafkaMessaging:
    """The Messaging port over a Kafka cluster; the configured topics exist once it is built."""

    def __init__(self, settings: KafkaSettings, describe_as: str = "", embedded: EmbeddedAddress | None = None) -> None:
        """`embedded`: the data directory's own broker, followed when it restarts (see `follow`)."""
        self.settings = settings
        self._describe_as = describe_as or settings.bootstrap_servers
        self._embedded = embedded
        self._follow_lock = threading.Lock()
        # This adapter's group members, told to leave before the embedded broker starts again.
        self._members: weakref.WeakSet[KafkaSubscriber] = weakref.WeakSet()
        # The embedded broker the admin last created topics on: a new one has none of them.
        self._topics_on = embedded.incarnation() if embedded is not None else None
        self.state = broker_state(settings.what())
        self.admin = TopicAdmin(settings, self.state)
        # Refused at once when nothing listens: a caller holding a lock (the switchboard opens
        # adapters under one) is not kept waiting for librdkafka's timeouts.
        try:
            settings.probe()
        except Unavailable as exc:
            self.state.failed(exc.reason)
            raise
        # Bounded: a broker that accepts connections but does not answer must not hold the caller
        # for the whole delivery timeout (publish and subscribe ensure their topics again).
        self.admin.ensure(settings.topics, timeout=min(5.0, settings.delivery_timeout_ms / 1000))
        self.publisher = KafkaPublisher(settings, self.admin, self.state,
                                        on_outage=self.follow if embedded is not None else None,
                                        before=self._recheck_topics if embedded is not None else None)

    def subscriber(self, topics: Sequence[str], group: str) -> KafkaSubscriber:
        # A subscription to a missing topic would see it only at the next metadata refresh (and
        # Tansu never completes a group join for one).
        self._recheck_topics()
        self.admin.ensure(topics)
        moved = self._moved_since(self.settings.bootstrap_servers, self.incarnation()) if self._embedded else None
        subscriber = KafkaSubscriber(self.settings, topics, group, self.state, moved=moved)
        if self._embedded is not None:
            self._members.add(subscriber)
        return subscriber

    def follow(self) -> bool:
        """After a connection failure to the embedded broker: start it again if it is gone (another
        process may have already, on another port) and point every client at where it listens.
        True when the broker is another one than before (a new address or a new process)."""
        if self._embedded is None:
            return False
        with self._follow_lock:
            before = self._embedded.incarnation()
            try:
                self.settings.probe()
            except Unavailable:
                # Gone: it is about to be started again (here or by another process).
                for member in list(self._members):
                    member.quiesce("the embedded broker went away; its log and groups went with it")
            try:
                servers = self._embedded.recover()
            except Unavailable as exc:
                log.warning("the embedded broker could not be started again: %s", exc,
                            extra={"broker": self.settings.what()})
                return False
            moved = servers != self.settings.bootstrap_servers
            if moved:
                log.warning("the embedded broker moved from %s to %s", self.settings.bootstrap_servers, servers,
                            extra={"broker": servers, "was": self.settings.bootstrap_servers})
                self.settings = replace(self.settings, bootstrap_servers=servers)
                self._describe_as = self._describe_as.replace(servers_of(self._describe_as), servers, 1)
                self.admin.retarget(self.settings)
                self.publisher.retarget(self.settings)
            else:
                self.admin.forget()
            return moved or self._embedded.incarnation() != before

    def _recheck_topics(self) -> None:
        """A restarted embedded broker has no topic: the admin creates them again when next asked."""
        now = self.incarnation()
        if now != self._topics_on:
            self._topics_on = now
            self.admin.forget()

    def _moved_since(self, servers: str, incarnation: str | None) -> Callable[[], str | None]:
        """Why a member built for the broker at `servers` (`incarnation`) must be built again, or None."""
        def moved() -> str | None:
            if self.state.up is False:
                self.follow()
            now = self._embedded.incarnation() if self._embedded else None
            if self.settings.bootstrap_servers != servers:
                return f"the embedded broker moved to {self.settings.bootstrap_servers}"
            if now != incarnation:
                return f"the embedded broker restarted ({now}) and lost its log and groups"
            return None
        return moved

    def interrupt(self) -> None:
        """Make a publish in flight give up now (a relay that is stopping)."""
        self.publisher.interrupt()

    def close(self) -> None:
        """Flush and release the connections; the publisher and admin reopen them when used again."""
        self.publisher.close()
        self.admin.close()

    def check(self) -> None:
        try:
            self.admin.check()
        except Unavailable:
            if not self.follow():
                raise
            self.admin.check()

    def incarnation(self) -> str | None:
        """A real cluster keeps its log: None. The embedded broker keeps it in memory: its process
        (pid and start time), which a restart changes (read at most once a second)."""
        return self._embedded.incarnation() if self._embedded is not None else None

    def describe(self) -> str:
        return f"Kafka {self._describe_as}"


def servers_of(text: str) -> str:
    """The host:port a description starts with ("127.0.0.1:9092 (embedded Tansu, ...)")."""
    return text.split(" ", 1)[0]


def wire_headers(headers: dict[str, str]) -> list[tuple[str, bytes]]:
    """Header values as bytes, the undecodable bytes a message arrived with given back as they were
    (a dead-letter copy carries the header that got it refused)."""
    return [(name, value.encode(errors="surrogateescape")) for name, value in headers.items()]


def record_to_message(record: KafkaRecord) -> Message:
    """A Kafka record as the Subscriber port hands it out."""
    headers: dict[str, str] = {}
    for name, value in record.headers() or []:
        # surrogateescape keeps bytes that are not UTF-8 recognisable (the doors refuse them by
        # name) instead of turning them into U+FFFD, which a key check would accept as text.
        headers[name] = value.decode(errors="surrogateescape") if isinstance(value, bytes) else str(value or "")
    topic, partition, offset = record.topic() or "", record.partition(), record.offset()
    message_id = headers.pop(ID_HEADER, None) or f"{topic}:{partition}:{offset}"
    message_type = headers.pop(TYPE_HEADER, None) or headers.get("type", "")
    key: Any = record.key()
    value: Any = record.value()
    return Message(
        id=message_id, key=key.decode(errors="replace") if isinstance(key, bytes) else "", type=message_type,
        payload=value if isinstance(value, bytes) else b"", headers=headers, topic=topic, partition=partition,
        offset=offset,
    )
