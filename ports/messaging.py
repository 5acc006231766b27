"""Messaging ports: a broker as a service uses it (publish, subscribe as a consumer group)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from core.kernel.envelope import Message
from ports.storage import OutboxRow


class Publisher(Protocol):
    """Sends messages to a topic.

    Contract: `publish(topic, messages)` returns only once the broker confirmed every message
    (so the caller may then mark them sent); on failure it raises Unavailable and the caller
    must assume none was sent. When the broker refuses one message for good (too large,
    invalid) it raises Refused naming that message; the others may or may not have been sent.
    Messages with one key keep their order. `close()` flushes.
    """

    def publish(self, topic: str, messages: Sequence[Message]) -> None: ...

    def close(self) -> None: ...


class Sending(Protocol):
    """Outbox rows handed to the broker whose confirmations are still coming (StreamingPublisher).

    Contract: `wait()` returns once the broker confirmed every row, or raises as `publish` does
    (Unavailable: assume none was sent; Refused naming the row refused for good). `confirmed()`
    is the event ids of the rows confirmed so far. `halted` is True when a row was refused
    before it left, so the rows after it were not handed over (nothing should follow them).
    """

    halted: bool

    def wait(self) -> None: ...

    def confirmed(self) -> set[str]: ...


@runtime_checkable
class StreamingPublisher(Protocol):
    """A publisher that takes outbox rows as they are and confirms them later, so the relay
    keeps producing while earlier rows confirm. Rows with one key keep their order across
    sendings. `send(rows, default_topic)` returns at once; a row goes to its own topic, or to
    `default_topic` when it names none. Published as `OutboxRecord.to_message` would."""

    def send(self, rows: Sequence[OutboxRow], default_topic: str) -> Sending: ...


class Subscriber(Protocol):
    """Receives messages of some topics as one member of a consumer group.

    Contract: `poll(timeout, max_messages)` returns messages not yet acknowledged by the group,
    in order per key; `ack(message)` records that its effect is committed, so a new member of
    the group resumes after it. A message polled but never acked is delivered again to the
    group's next member (at-least-once). `close()` leaves the group.
    """

    def poll(self, timeout: float, max_messages: int = 100) -> list[Message]: ...

    def ack(self, message: Message) -> None: ...

    def close(self) -> None: ...


class Messaging(Protocol):
    """A message broker as the service uses it: one publisher, subscribers per consumer group.

    Contract: messages published to a topic reach every group subscribed to it; `close()`
    flushes and releases the connection; `describe()` names the broker for people;
    `check()` returns if the broker answers, else raises Unavailable naming it.
    `incarnation()` names the broker's current log: it changes when the broker lost what it
    held (an embedded broker restarted, a memory broker reset), so a relay knows to publish its
    retained rows again; None when unknown (a real cluster keeps its log).
    """

    publisher: Publisher

    def subscriber(self, topics: Sequence[str], group: str) -> Subscriber: ...

    def close(self) -> None: ...

    def describe(self) -> str: ...

    def check(self) -> None: ...

    def incarnation(self) -> str | None: ...
