"""One bounded context's consumer: its commands topic and the event topics of the contexts it
follows, each message's effect exactly once.

Per message, ack only after its effect (or its rejection) is durable:
- a command (`{"type": "Restock", ...}` on `orderhex.<context>.commands`) is read by the
  context's own wire reader and sent through its service with the message id (the inbox makes a
  redelivery a no-op); the sender may ask for the outcome with a `reply_to` header;
- an event from another context is decoded and handed to the context's reactions, each at most
  once for this message; events it has no reaction to are acked and counted as ignored;
- a command a saga sent (its body carries `"saga"`: id, step, attempt, compensation, reply_to) is
  handled the same way, with its message id (at most once), and answered on the saga's reply-to
  topic, keyed by saga id: ok, or failed with the reason (a refused reservation or authorization,
  or the DomainError that refused the command);
- a saga's reply (on `replies_topic`, the orchestrator's consumer only) is handed to the saga
  runner with its message id as the inbox id;
- what is malformed or refused by the domain goes to the dead-letter topic with the reason in the
  `error` header; an error that is neither (a bug) is retried after a back-off, then dead-lettered.
When the store or broker is down the subscription is dropped and reopened after a back-off: the
group hands the unacked message to the new member.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from typing import Any

from adapters.inbound.kafka.subscription import consume_until
from adapters.inbound.kafka.wire import (
    DEFAULT_MAX_MESSAGE_BYTES,
    check_size,
    dead_letter,
    json_object,
    message_size,
    reply,
    send_owed,
)
from core.inventory.commands import ReservationOutcome
from core.kernel.envelope import Message
from core.kernel.errors import AlreadyProcessed, DomainError, Unavailable, ValidationError
from core.kernel.feed import FeedEvent, FeedKind
from core.kernel.messages import Command, event_from_dict
from core.payments.commands import AuthorizationOutcome
from core.runtime.faults import NO_FAULT, FaultDecision
from core.runtime.relay import Backoff
from core.runtime.saga import Reply
from core.runtime.sagas import SAGA_FIELD, SagaRunner, reply_from_json, reply_to_json
from core.runtime.service import Service
from ports.messaging import Messaging, Subscriber


@dataclass(frozen=True, kw_only=True)
class ConsumerSettings:
    commands_topic: str
    event_topics: tuple[str, ...]
    dead_letter_topic: str
    group: str
    poll_timeout: float = 0.5
    max_batch: int = 100
    backoff_initial: float = 0.2
    backoff_max: float = 10.0
    max_attempts: int = 3
    # Commands larger than this are refused unread (events come from the services' own outboxes).
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    # The saga orchestrator's consumer also takes its sagas' replies here.
    replies_topic: str | None = None
    # Replies of different sagas in one polled batch are handled this many at a time (one saga's
    # replies in order, in one lane): their commits meet in the store's commit queue and share a
    # transaction, and on PostgreSQL their round trips overlap. 1 handles them one by one.
    reply_lanes: int = 1

    @property
    def topics(self) -> list[str]:
        return [self.commands_topic, *self.event_topics, *([self.replies_topic] if self.replies_topic else [])]


@dataclass
class ConsumerCounts:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    reacted: int = 0
    ignored: int = 0
    saga_replies: int = 0


class ContextConsumer:
    def __init__(self, *, service: Service, messaging: Messaging, settings: ConsumerSettings,
                 sagas: SagaRunner | None = None, faults: Callable[[str], FaultDecision] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        """`sagas` drives the replies on `settings.replies_topic` (the orchestrator's consumer).
        `faults` decides, per saga command, the fault injected into this participant (the
        dashboard's faults dialog, `orderhex faults`): every path of a saga reachable by hand."""
        self._service = service
        self._messaging = messaging
        self.settings = settings
        self._sagas = sagas
        self._faults = faults
        self._sleep = sleep
        self.counts = ConsumerCounts()
        self._counting = threading.Lock()  # replies are counted from their lanes' threads
        self._attempts: dict[str, int] = {}
        self._lanes: ThreadPoolExecutor | None = None

    @property
    def name(self) -> str:
        return f"{self._service.name}-consumer"

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set; leaves the group on the way out."""
        try:
            consume_until(
                stop, subscribe=lambda: self._messaging.subscriber(self.settings.topics, self.settings.group),
                consume_batch=self.consume_batch,
                backoff=Backoff(self.settings.backoff_initial, self.settings.backoff_max),
                on_outage=lambda exc: self._report(FeedKind.ERROR, f"{self.name} waits for an outage: {exc}",
                                                   error="Unavailable"))
        finally:
            if self._lanes is not None:
                self._lanes.shutdown()
                self._lanes = None

    def consume_batch(self, subscriber: Subscriber) -> int:
        batch = subscriber.poll(self.settings.poll_timeout, self.settings.max_batch)
        start = 0
        while start < len(batch):
            end = start
            while end < len(batch) and self._in_lanes(batch[end]):
                end += 1
            if end - start > 1:
                self._handle_replies(batch[start:end], subscriber)
                start = end
                continue
            self.handle(batch[start])
            subscriber.ack(batch[start])
            start += 1
        return len(batch)

    def _in_lanes(self, message: Message) -> bool:
        return self.settings.reply_lanes > 1 and message.topic == self.settings.replies_topic

    def _handle_replies(self, replies: list[Message], subscriber: Subscriber) -> None:
        """A run of replies, one lane per saga (by key: the saga id), lanes at once. Acked in the
        order polled, up to the first that failed: the offset says "all before this is done", and
        a reply handled after it in another lane is a duplicate when redelivered (the inbox)."""
        lanes: dict[str, list[int]] = {}
        for index, message in enumerate(replies):
            lanes.setdefault(message.key or message.id, []).append(index)
        if self._lanes is None:
            self._lanes = ThreadPoolExecutor(self.settings.reply_lanes, thread_name_prefix=f"{self.name}-replies")
        done: set[int] = set()
        failures: list[tuple[int, BaseException]] = []

        def lane(indexes: list[int]) -> None:
            for index in indexes:
                try:
                    self.handle(replies[index])
                except BaseException as exc:  # this lane stops here; the rest of it is redelivered
                    failures.append((index, exc))
                    return
                done.add(index)

        for future in [self._lanes.submit(lane, indexes) for indexes in lanes.values()]:
            future.result()
        for index in handled_prefix(len(replies), done):
            subscriber.ack(replies[index])
        if failures:
            raise min(failures, key=lambda failure: failure[0])[1]

    def handle(self, message: Message) -> None:
        """Make the message's effect (or its rejection) durable. Raises Unavailable if it cannot."""
        try:
            if message.topic == self.settings.commands_topic:
                self._command(message)
            elif message.topic == self.settings.replies_topic:
                self._saga_reply(message)
            else:
                self._event(message)
        except Unavailable:
            raise
        except DomainError as exc:
            self._dead_letter(message, exc)
            return
        except Exception as exc:  # a bug, or a store error nobody translated: maybe transient
            self._attempts[message.id] = attempts = self._attempts.get(message.id, 0) + 1
            if attempts >= self.settings.max_attempts:
                del self._attempts[message.id]
                self._dead_letter(message, exc)
                return
            raise Unavailable(self.name, f"handling message {message.id} failed ({type(exc).__name__}: {exc}), "
                                         f"attempt {attempts} of {self.settings.max_attempts}",
                              "it is retried after a back-off, then dead-lettered") from exc
        self._attempts.pop(message.id, None)

    def _command(self, message: Message) -> None:
        check_size(message, self.settings.max_message_bytes)
        body = json_object(message.payload)
        kind = body.pop("type", None) or message.headers.get("type")
        saga = body.pop(SAGA_FIELD, None)
        if saga is not None:
            self._saga_command(message, _saga_fields(saga), lambda: self._read(kind, body))
            return
        command = self._read(kind, body)
        try:
            result = self._service.send(command, message.id)
        except AlreadyProcessed:
            self.counts.duplicates += 1
            self._reply(message, {"status": "accepted", "duplicate": True, "command": command.type_name})
            return
        self.counts.accepted += 1
        self._reply(message, {"status": "accepted", "command": command.type_name, "result": _json(result)})
        self._report(FeedKind.COMMAND, f"{self.name}: {command.type_name} {message.id} accepted",
                     message_id=message.id, command=command.type_name)

    def _read(self, kind: Any, body: dict[str, Any]) -> Command:
        read = self._service.context.reader(str(kind)) if kind else None
        if read is None:
            known = ", ".join(sorted(c.__name__ for c in self._service.context.readers))
            raise ValidationError("type", f"must be one of {known}, got {kind!r}")
        return read(body)

    def _saga_command(self, message: Message, saga: dict[str, Any], read: Callable[[], Command]) -> None:
        """Handle a saga's command at most once and answer the saga. The answer is published after
        the commit: a reply lost on the way (a crash in between, a broker outage) is recovered by
        the step's deadline, whose retry gets the first outcome again (reserving and authorizing
        return the first answer for an order), so nothing is decided twice."""
        fault = self._faults(self._service.name) if self._faults is not None else NO_FAULT
        if fault.delay > 0:
            self._sleep(fault.delay)
        if fault.timeout:
            # A participant that hangs: nothing done, nothing said; the saga's deadline asks again.
            self._report(FeedKind.FAULT, f"{self.name}: {message.id} left unanswered (an injected timeout)",
                         message_id=message.id, saga_id=saga["id"])
            return
        if fault.fail:
            # Refused without being done, as a participant failing for its own reasons would.
            self.counts.rejected += 1
            ok, reason = False, "an injected fault"
        else:
            try:
                command = read()
                result = self._service.send(command, message.id)
            except AlreadyProcessed:
                # Handled and answered before; if that answer was lost, the deadline asks again.
                self.counts.duplicates += 1
                return
            except DomainError as exc:
                self.counts.rejected += 1
                ok, reason = False, f"{type(exc).__name__}: {exc}"
            else:
                self.counts.accepted += 1
                ok, reason = _saga_outcome(result)
        reply = Reply(step=saga["step"], attempt=saga["attempt"], ok=ok, reason=reason,
                      compensation=saga["compensation"])
        self._report(FeedKind.SAGA, f"{self.name}: {message.id} {'ok' if ok else f'failed ({reason})'}",
                     message_id=message.id, saga_id=saga["id"], step=reply.step, attempt=reply.attempt, ok=ok)
        if not saga["reply_to"]:
            return
        if fault.drop_reply:
            self._report(FeedKind.FAULT, f"{self.name}: the reply to {message.id} dropped (an injected fault)",
                         message_id=message.id, saga_id=saga["id"])
            return
        payload = json.dumps(reply_to_json(saga["id"], reply), separators=(",", ":"), sort_keys=True).encode()
        answer = Message(id=f"{message.id}:reply", key=saga["id"], type="saga.Reply", payload=payload,
                         headers={"type": "saga.Reply", "correlation_id": saga["id"], "causation_id": message.id})
        send_owed(self._messaging.publisher, saga["reply_to"], answer, "the saga reply")
        if fault.duplicate_reply:
            # A copy under its own id, as a producer's retry would make: the saga records it and moves not.
            copy = dataclasses.replace(answer, id=f"{message.id}:reply:again")
            send_owed(self._messaging.publisher, saga["reply_to"], copy, "the saga reply's injected copy")

    def _saga_reply(self, message: Message) -> None:
        if self._sagas is None:
            raise ValidationError("message", f"{self.name} drives no saga, so it takes no saga reply")
        try:
            saga_id, reply = reply_from_json(json_object(message.payload))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError("message", f"is not a saga reply ({exc})") from exc
        try:
            self._sagas.reply(self._service.unit_of_work(), saga_id, reply, message.id)
        except AlreadyProcessed:
            with self._counting:
                self.counts.duplicates += 1
            return
        with self._counting:
            self.counts.saga_replies += 1

    def _event(self, message: Message) -> None:
        try:
            event = event_from_dict(json_object(message.payload))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError("message", f"is not an event this service can read ({exc})") from exc
        if not self._service.reacts_to(type(event)):
            self.counts.ignored += 1
            return
        # Qualified by the context: in a shared database two contexts' inbox entries must not meet.
        ran = self._service.react(event, f"{self._service.name}:{event.event_id}")
        if ran:
            self.counts.reacted += 1
        else:
            self.counts.duplicates += 1

    def _dead_letter(self, message: Message, error: Exception) -> None:
        with self._counting:
            self.counts.rejected += 1
        reason = f"{type(error).__name__}: {error}"
        send_owed(self._messaging.publisher, self.settings.dead_letter_topic,
                  dead_letter(message, error, self.settings.max_message_bytes), "the dead-letter copy")
        oversize = message_size(message) > self.settings.max_message_bytes
        self._reply(message, {"status": "rejected", "reason": str(error), "error": type(error).__name__,
                              "command": _declared_type(message, read_body=not oversize)})
        self._report(FeedKind.ERROR, f"{self.name} dead-lettered {message.id}: {reason}", message_id=message.id,
                     error=type(error).__name__)

    def _reply(self, message: Message, body: dict[str, Any]) -> None:
        payload = json.dumps({"message_id": message.id, **body}, separators=(",", ":"), sort_keys=True).encode()
        outcome = reply(message, payload)
        if outcome is not None:
            send_owed(self._messaging.publisher, outcome[0], outcome[1], "the reply")

    def _report(self, kind: FeedKind, text: str, **data: object) -> None:
        self._service.feed.publish(FeedEvent(kind=kind, text=text, at=self._service.clock.now(), data=dict(data)))


def handled_prefix(count: int, done: set[int]) -> range:
    """The indexes 0.. of a run of `count` messages that are all in `done`: what may be acked."""
    end = 0
    while end < count and end in done:
        end += 1
    return range(end)


def _saga_fields(value: Any) -> dict[str, Any]:
    """A command's saga fields, checked: the reply must be correlatable or it is worth nothing."""
    if not isinstance(value, dict):
        raise ValidationError("saga", f"must be an object with id, step, attempt, compensation and reply_to, "
                                      f"got {value!r}")
    saga_id, step, attempt = value.get("id"), value.get("step"), value.get("attempt")
    if not isinstance(saga_id, str) or not saga_id or not isinstance(step, str) or not step \
            or isinstance(attempt, bool) or not isinstance(attempt, int):
        raise ValidationError("saga", f"needs id and step (strings) and attempt (integer), got {value!r}")
    reply_to = value.get("reply_to")
    return {"id": saga_id, "step": step, "attempt": attempt, "compensation": bool(value.get("compensation")),
            "reply_to": reply_to if isinstance(reply_to, str) and reply_to else None}


def _saga_outcome(result: Any) -> tuple[bool, str | None]:
    """A handler's result as a saga's answer: reserving and authorizing may refuse without an error."""
    if isinstance(result, ReservationOutcome) and not result.reserved:
        return False, "stock short: " + ("; ".join(result.shortages) or "not enough stock")
    if isinstance(result, AuthorizationOutcome) and not result.authorized:
        return False, "payment declined: " + (result.reason or "not authorized")
    return True, None


def _declared_type(message: Message, *, read_body: bool = True) -> str | None:
    """The type a message says it carries, even when its body is not valid (for the reply); from
    its headers alone when `read_body` is False (a body too large to read)."""
    try:
        declared = json.loads(message.payload).get("type") if read_body else None
    except (AttributeError, UnicodeDecodeError, ValueError):
        declared = None
    return str(declared or message.headers.get("type") or "") or None


def _json(result: Any) -> Any:
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return {k: _json(v) for k, v in dataclasses.asdict(result).items()}
    if isinstance(result, Enum):
        return result.value
    if isinstance(result, tuple | list):
        return [_json(v) for v in result]
    return result
