"""What the Kafka command intake does, as log lines and metrics, one per command.

The intake is handed traced ports (its Messaging, Subscriber, Publisher and Ordering wrapped
here) instead of the application's, so every door that runs it (`orderhex consume`, `serve`
with `api.kafka_intake`) says the same, without the intake knowing about logs:

- while a command runs (`Ordering.send`), every line logged in that thread carries the
  message's ids: `message_id`, `correlation_id` (the sender's, else the message's own),
  `causation_id` (when the sender gave one);
- when the message is acknowledged, one line says what became of it: "command accepted"
  (with the order id), "command duplicate" (its message id or idempotency key was seen
  before) or "command dead-lettered" (at warning, with the reason), and
  orderhex_intake_messages_total{outcome} / orderhex_intake_dead_letters_total{error} count it.

With `intake.group_commit` the commands of a batch run in one transaction outside
`Ordering.send`: they are reported as accepted, without an order id.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from adapters.inbound import logs
from adapters.inbound.kafka.wire import ERROR_HEADER
from adapters.inbound.rest.metrics import INTAKE_DEAD_LETTERS, INTAKE_MESSAGES, snake
from core.kernel.envelope import Message
from core.kernel.errors import AlreadyProcessed
from core.orders.commands import PlaceResult
from ports.messaging import Messaging, Publisher, Subscriber
from ports.orders import Ordering

log = logging.getLogger("orderhex.intake")
_REMEMBERED = 10_000  # messages polled and not yet acknowledged, at most (a redelivery resets it)


@dataclass
class _Seen:
    ids: dict[str, str]
    type: str
    started: float
    outcome: str = ""
    order_id: str | None = None
    reason: str = ""
    command: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class IntakeTrace:
    """The shared memory of one intake's tracers: polled messages, by their place in the topic,
    until acknowledged. A message id may come twice in one batch (a resend): `get` finds the
    earliest one not yet acknowledged, which is the one the intake handles next."""

    def __init__(self, dead_letter_topic: str) -> None:
        self.dead_letter_topic = dead_letter_topic
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, int | None, int | None], _Seen] = {}
        self._by_id: dict[str, list[tuple[str, int | None, int | None]]] = {}

    def polled(self, messages: Sequence[Message]) -> None:
        with self._lock:
            if len(self._seen) > _REMEMBERED:
                self._seen.clear()
                self._by_id.clear()
            for message in messages:
                place = _place(message)
                self._seen[place] = _Seen(logs.id_fields(message.id, message.headers),
                                          message.headers.get("type", ""), time.perf_counter())
                self._by_id.setdefault(message.id, []).append(place)

    def get(self, message_id: str | None) -> _Seen | None:
        if message_id is None:
            return None
        with self._lock:
            places = self._by_id.get(message_id)
            return self._seen.get(places[0]) if places else None

    def acked(self, message: Message) -> None:
        place = _place(message)
        with self._lock:
            seen = self._seen.pop(place, None)
            places = self._by_id.get(message.id, [])
            if place in places:
                places.remove(place)
            if not places:
                self._by_id.pop(message.id, None)
        if seen is None:
            return
        outcome = seen.outcome or "accepted"
        fields: dict[str, Any] = {**seen.ids, "outcome": outcome,
                                  "ms": round((time.perf_counter() - seen.started) * 1000, 3)}
        if seen.command:
            fields["command"] = seen.command
        if seen.order_id:
            fields["order_id"] = seen.order_id
        if outcome == "dead_lettered":
            fields["reason"] = seen.reason
            error = seen.reason.split(":", 1)[0] if ":" in seen.reason else "unknown"
            INTAKE_DEAD_LETTERS.labels(snake(error)).inc()
            log.warning("command dead-lettered: %s", seen.reason, extra=fields)
        else:
            what = f"{seen.command} " if seen.command else ""
            to = f" -> {seen.order_id}" if seen.order_id else ""
            log.info("command %s: %s%s%s", outcome, what, message.id, to, extra=fields)
        INTAKE_MESSAGES.labels(outcome).inc()

    def forget(self) -> None:
        with self._lock:
            self._seen.clear()
            self._by_id.clear()


def _place(message: Message) -> tuple[str, int | None, int | None]:
    return (message.topic, message.partition, message.offset)


class TracedSubscriber:
    def __init__(self, inner: Subscriber, trace: IntakeTrace) -> None:
        self._inner = inner
        self._trace = trace

    def poll(self, timeout: float, max_messages: int = 100) -> list[Message]:
        messages = self._inner.poll(timeout, max_messages)
        self._trace.polled(messages)
        return messages

    def ack(self, message: Message) -> None:
        self._inner.ack(message)
        self._trace.acked(message)

    def close(self) -> None:
        self._trace.forget()  # what was not acked comes again, to this member or another
        self._inner.close()


class TracedPublisher:
    def __init__(self, inner: Publisher, trace: IntakeTrace) -> None:
        self._inner = inner
        self._trace = trace

    def publish(self, topic: str, messages: Sequence[Message]) -> None:
        self._inner.publish(topic, messages)
        if topic == self._trace.dead_letter_topic:
            for message in messages:
                seen = self._trace.get(message.id)
                if seen is not None:
                    seen.outcome = "dead_lettered"
                    seen.reason = message.headers.get(ERROR_HEADER, "")

    def close(self) -> None:
        self._inner.close()


class TracedMessaging:
    """The application's Messaging, with the intake's subscriber and publisher traced."""

    def __init__(self, inner: Messaging, trace: IntakeTrace) -> None:
        self._inner = inner
        self._trace = trace

    @property
    def publisher(self) -> TracedPublisher:
        return TracedPublisher(self._inner.publisher, self._trace)

    def subscriber(self, topics: Sequence[str], group: str) -> TracedSubscriber:
        return TracedSubscriber(self._inner.subscriber(topics, group), self._trace)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class TracedOrdering:
    """The Ordering port, with each intake command run under its message's log context."""

    def __init__(self, inner: Ordering, trace: IntakeTrace) -> None:
        self._inner = inner
        self._trace = trace

    def send(self, command: Any, message_id: str | None = None) -> Any:
        seen = self._trace.get(message_id)
        ids = seen.ids if seen is not None else {"message_id": message_id}
        with logs.context(**ids):
            try:
                result = self._inner.send(command, message_id)
            except AlreadyProcessed:
                if seen is not None:
                    seen.outcome, seen.command = "duplicate", type(command).__name__
                    seen.order_id = getattr(command, "order_id", None)
                raise
        if seen is not None:
            seen.command = type(command).__name__
            if isinstance(result, PlaceResult):
                seen.order_id = result.order_id
                seen.outcome = "accepted" if result.created else "duplicate"
            else:
                seen.order_id = getattr(command, "order_id", None)
                seen.outcome = "accepted"
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def traced(messaging: Messaging, ordering: Ordering, dead_letter_topic: str) -> tuple[Messaging, Ordering]:
    trace = IntakeTrace(dead_letter_topic)
    return TracedMessaging(messaging, trace), TracedOrdering(ordering, trace)  # type: ignore[return-value]
