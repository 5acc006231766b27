"""`orderhex consume`: order commands from a topic, each with its effect exactly once.

Per message: parse -> run through the Ordering port with the message id (the inbox makes a
redelivery a no-op) -> on a malformed or invalid command, a dead-letter copy with the error
in a header -> the reply, when the sender asked for one -> only then ack, so a crash at any
point redelivers the message and never loses it. When the store or broker is down the
subscription is dropped and reopened after a back-off: the group hands the unacked message
to the new member.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from adapters.inbound.kafka.subscription import consume_until
from adapters.inbound.kafka.wire import (
    DEFAULT_MAX_MESSAGE_BYTES,
    IntakeCommand,
    accepted,
    check_size,
    dead_letter,
    declared_type,
    message_key,
    message_size,
    parse_command,
    rejected,
    reply,
    send_owed,
)
from core.kernel.envelope import Message
from core.kernel.errors import AlreadyProcessed, DomainError, IdempotencyConflict, Unavailable, ValidationError
from core.kernel.feed import FeedEvent, FeedKind
from core.kernel.messages import DomainEvent
from core.orders.commands import PlaceOrder, PlaceResult
from core.runtime.group_commit import BatchUnitOfWork, GroupCommit
from core.runtime.relay import Backoff
from ports.messaging import Messaging, Subscriber
from ports.orders import Ordering
from ports.system import EventFeed


@dataclass(frozen=True, kw_only=True)
class IntakeSettings:
    topic: str
    dead_letter_topic: str
    group: str
    poll_timeout: float = 0.5
    max_batch: int = 100
    backoff_initial: float = 0.2
    backoff_max: float = 10.0
    max_attempts: int = 3
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES


@dataclass(frozen=True)
class _Outcome:
    message: Message
    command: IntakeCommand
    order_id: str | None
    created: bool
    error: DomainError | None = None


@dataclass
class IntakeCounts:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0


class CommandIntake:
    def __init__(
        self, *, messaging: Messaging, ordering: Ordering, settings: IntakeSettings,
        feed: EventFeed, now: Callable[[], datetime], group_commit: GroupCommit | None = None,
    ) -> None:
        self._messaging = messaging
        self._ordering = ordering
        self._group = group_commit
        self.settings = settings
        self._feed = feed
        self._now = now
        self.counts = IntakeCounts()
        # Failed attempts per message id, for errors that are neither the domain's nor an outage.
        self._attempts: dict[str, int] = {}

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set; leaves the group on the way out."""
        consume_until(
            stop, subscribe=lambda: self._messaging.subscriber([self.settings.topic], self.settings.group),
            consume_batch=self.consume_batch, backoff=Backoff(self.settings.backoff_initial, self.settings.backoff_max),
            on_outage=lambda exc: self._report(FeedKind.ERROR, f"command intake waits for an outage: {exc}",
                                               error="Unavailable"))

    def consume_batch(self, subscriber: Subscriber) -> int:
        """Handle and ack one polled batch; returns how many messages were handled."""
        batch = subscriber.poll(self.settings.poll_timeout, self.settings.max_batch)
        if self._group is not None and len(batch) > 1:
            self.handle_group(batch, self._group)
            for message in batch:
                subscriber.ack(message)
            return len(batch)
        for message in batch:
            self.handle(message)
            subscriber.ack(message)
        return len(batch)

    def handle_group(self, batch: list[Message], group: GroupCommit) -> None:
        """Group commit: every valid command of the batch in one transaction. If that transaction
        cannot commit (a conflict, a duplicate that raced in), the batch is handled again one
        command per transaction, so only the culprit is rejected."""
        started = time.perf_counter()
        commands: list[tuple[Message, IntakeCommand]] = []
        for message in batch:
            try:
                commands.append((message, self._parse(message)))
            except ValidationError as exc:
                self._reject(message, self._declared_type(message), exc)
        outcomes: list[_Outcome] = []
        keys: set[str] = set()
        with group.batch() as uow:
            for message, command in commands:
                key = command.idempotency_key if isinstance(command, PlaceOrder) else None
                if key is not None and key in keys:
                    # Its twin is staged, not stored, so the handler cannot find it: go one by one.
                    uow.tainted = True
                    break
                if key is not None:
                    keys.add(key)
                outcome = self._stage(uow, group, message, command)
                if outcome is None:
                    break
                outcomes.append(outcome)
            events = None if uow.tainted else self._flush(uow)
            if events is None:
                uow.abandon()
        if events is None:
            for message, _ in commands:
                self.handle(message)
            return
        # Through the bus, like any command's events: the feed hears of them and event handlers run.
        group.dispatch(events)
        for outcome in outcomes:
            if outcome.error is not None:
                self._reject(outcome.message, type(outcome.command).__name__, outcome.error)
                continue
            if outcome.created:
                self.counts.accepted += 1
            else:
                self.counts.duplicates += 1
            self._reply(outcome.message, accepted(outcome.message.id, outcome.command, outcome.order_id,
                                                  duplicate=not outcome.created))
        self._report(FeedKind.COMMAND, f"intake group-committed {len(commands)} command(s)", count=len(commands),
                     ms=round((time.perf_counter() - started) * 1000, 3))

    def _stage(self, uow: BatchUnitOfWork, group: GroupCommit, message: Message,
               command: IntakeCommand) -> _Outcome | None:
        """Run one command of a group-commit batch; None when the batch must go one by one."""
        if uow.seen(message.id) and not isinstance(command, PlaceOrder):
            return _Outcome(message, command, _order_id(command), created=False)
        # A PlaceOrder seen before runs again: its handler finds the order by the idempotency key
        # (the sender's, or the message's) and stages nothing.
        try:
            order_id, created = self._apply(command, message.id, group.send)
        except Unavailable:
            raise
        except DomainError as exc:
            if uow.tainted:
                return None
            first = _first_order(command, message, exc)
            if first is not None:
                return _Outcome(message, command, first, created=False)
            return _Outcome(message, command, None, created=False, error=exc)
        except Exception:  # not the domain's verdict: the one-by-one path retries, then dead-letters
            uow.tainted = True
            return None
        return _Outcome(message, command, order_id, created=created)

    def handle(self, message: Message) -> None:
        """Make the message's effect (or its rejection) durable. Raises Unavailable if it cannot."""
        started = time.perf_counter()
        try:
            command = self._parse(message)
        except ValidationError as exc:
            self._reject(message, self._declared_type(message), exc)
            return
        try:
            order_id, created = self._apply(command, message.id)
        except AlreadyProcessed:
            # Only a PlaceOrder whose first delivery predates message keys gets here without
            # finding its order by key: its id is then unknown (null in the reply).
            self.counts.duplicates += 1
            self._reply(message, accepted(message.id, command, _order_id(command), duplicate=True))
            return
        except Unavailable:
            raise
        except DomainError as exc:
            first = _first_order(command, message, exc)
            if first is None:
                self._reject(message, type(command).__name__, exc)
                return
            order_id, created = first, False
        except Exception as exc:  # a bug, or a store error nobody translated: maybe transient
            self._attempts[message.id] = attempts = self._attempts.get(message.id, 0) + 1
            if attempts >= self.settings.max_attempts:
                del self._attempts[message.id]
                self._reject(message, type(command).__name__, exc)
                return
            raise Unavailable("the command intake", f"handling message {message.id} failed "
                              f"({type(exc).__name__}: {exc}), attempt {attempts} of {self.settings.max_attempts}",
                              "it is retried after a back-off, then dead-lettered") from exc
        self._attempts.pop(message.id, None)
        if created:
            self.counts.accepted += 1
        else:
            self.counts.duplicates += 1
        self._reply(message, accepted(message.id, command, order_id, duplicate=not created))
        self._report(FeedKind.COMMAND, f"intake {type(command).__name__} {message.id} -> {order_id}",
                     message_id=message.id, order_id=order_id, ms=round((time.perf_counter() - started) * 1000, 3))

    def _parse(self, message: Message) -> IntakeCommand:
        check_size(message, self.settings.max_message_bytes)
        return parse_command(message.payload, message.headers, message.id)

    def _declared_type(self, message: Message) -> str | None:
        """What the message says it is; from its headers alone when it is too large to read."""
        oversize = message_size(message) > self.settings.max_message_bytes
        return declared_type(b"" if oversize else message.payload, message.headers)

    @staticmethod
    def _flush(uow: BatchUnitOfWork) -> list[DomainEvent] | None:
        """The batch's events once committed; None when it cannot commit."""
        try:
            return uow.flush()
        except Unavailable:
            raise
        except Exception:  # whatever stops the batch's commit, one by one finds the culprit
            return None

    def _apply(self, command: IntakeCommand, message_id: str,
               send: Callable[[IntakeCommand, str], object] | None = None) -> tuple[str | None, bool]:
        result = (send or self._ordering.send)(command, message_id)
        if isinstance(result, PlaceResult):
            return result.order_id, result.created
        return _order_id(command), True

    def _reject(self, message: Message, command_type: str | None, error: Exception) -> None:
        """Dead-letter the message and tell the sender; `command_type` is what the message said it
        was ("PlaceOrder"), even when its body could not be read as one."""
        self.counts.rejected += 1
        reason = f"{type(error).__name__}: {error}"
        send_owed(self._messaging.publisher, self.settings.dead_letter_topic,
                  dead_letter(message, error, self.settings.max_message_bytes), "the dead-letter copy")
        self._reply(message, rejected(message.id, command_type, error))
        self._report(FeedKind.ERROR, f"intake dead-lettered {message.id}: {reason}", message_id=message.id,
                     error=type(error).__name__)

    def _reply(self, message: Message, body: bytes) -> None:
        outcome = reply(message, body)
        if outcome is not None:
            send_owed(self._messaging.publisher, outcome[0], outcome[1], "the reply")

    def _report(self, kind: FeedKind, text: str, **data: object) -> None:
        self._feed.publish(FeedEvent(kind=kind, text=text, at=self._now(), data=dict(data)))


def _order_id(command: IntakeCommand) -> str | None:
    return None if isinstance(command, PlaceOrder) else command.order_id


def _first_order(command: IntakeCommand, message: Message, error: DomainError) -> str | None:
    """The order a resend placed already: a PlaceOrder keyed by its message id whose body differs
    from the first delivery's (same message id: one effect, the first). None for any other error."""
    if (isinstance(error, IdempotencyConflict) and isinstance(command, PlaceOrder)
            and command.idempotency_key == message_key(message.id)):
        return error.order_id
    return None
