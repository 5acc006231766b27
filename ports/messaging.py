"""Messaging ports: a broker as a service uses it (publish, subscribe as a consumer group)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from core.kernel.envelope import Message


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
