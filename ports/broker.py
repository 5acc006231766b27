from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ports.messaging import Publisher, Subscriber


class Messaging(Protocol):
    """A message broker as the service uses it: one publisher, subscribers per consumer group.

    Contract: messages published to a topic reach every group subscribed to it; `close()`
    flushes and releases the connection; `describe()` names the broker for people;
    `check()` returns if the broker answers, else raises Unavailable naming it.
    """

    publisher: Publisher

    def subscriber(self, topics: Sequence[str], group: str) -> Subscriber: ...

    def close(self) -> None: ...

    def describe(self) -> str: ...

    def check(self) -> None: ...
