"""One bounded context's consumer: its commands topic and the event topics of the contexts it
follows, each message's effect exactly once.

Per message, ack only after its effect (or its rejection) is durable:
- a command (`{"type": "Restock", ...}` on `orderhex.<context>.commands`) is read by the
  context's own wire reader and sent through its service with the message id (the inbox makes a
  redelivery a no-op); the sender may ask for the outcome with a `reply_to` header;
- an event from another context is decoded and handed to the context's reactions, each at most
  once for this message; events it has no reaction to are acked and counted as ignored;
- what is malformed or refused by the domain goes to the dead-letter topic with the reason in the
  `error` header; an error that is neither (a bug) is retried after a back-off, then dead-lettered.
When the store or broker is down the subscription is dropped and reopened after a back-off: the
group hands the unacked message to the new member.
"""

from __future__ import annotations

import dataclasses
import json
import threading
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
from core.kernel.envelope import Message
from core.kernel.errors import AlreadyProcessed, DomainError, Unavailable, ValidationError
from core.kernel.feed import FeedEvent, FeedKind
from core.kernel.messages import event_from_dict
from core.runtime.relay import Backoff
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

    @property
    def topics(self) -> list[str]:
        return [self.commands_topic, *self.event_topics]


@dataclass
class ConsumerCounts:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    reacted: int = 0
    ignored: int = 0


class ContextConsumer:
    def __init__(self, *, service: Service, messaging: Messaging, settings: ConsumerSettings) -> None:
        self._service = service
        self._messaging = messaging
        self.settings = settings
        self.counts = ConsumerCounts()
        self._attempts: dict[str, int] = {}

    @property
    def name(self) -> str:
        return f"{self._service.name}-consumer"

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set; leaves the group on the way out."""
        consume_until(
            stop, subscribe=lambda: self._messaging.subscriber(self.settings.topics, self.settings.group),
            consume_batch=self.consume_batch, backoff=Backoff(self.settings.backoff_initial, self.settings.backoff_max),
            on_outage=lambda exc: self._report(FeedKind.ERROR, f"{self.name} waits for an outage: {exc}",
                                               error="Unavailable"))

    def consume_batch(self, subscriber: Subscriber) -> int:
        batch = subscriber.poll(self.settings.poll_timeout, self.settings.max_batch)
        for message in batch:
            self.handle(message)
            subscriber.ack(message)
        return len(batch)

    def handle(self, message: Message) -> None:
        """Make the message's effect (or its rejection) durable. Raises Unavailable if it cannot."""
        try:
            if message.topic == self.settings.commands_topic:
                self._command(message)
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
        read = self._service.context.reader(str(kind)) if kind else None
        if read is None:
            known = ", ".join(sorted(c.__name__ for c in self._service.context.readers))
            raise ValidationError("type", f"must be one of {known}, got {kind!r}")
        command = read(body)
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
