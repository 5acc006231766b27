"""The Aggregate base every context's aggregate root extends, and the codec a store keeps it by.

An aggregate changes only by recording events (`_record` applies one and keeps it pending); the
unit of work stores it with its pending events and hands them on after commit. A store knows
nothing else about it: it keeps the codec's JSON state (or the events) under the codec's name.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Self, TypeVar

from core.kernel.messages import DomainEvent


class Aggregate(ABC):
    """Identity, version and pending events. `persisted_version` is the version the store holds:
    a save whose stored version differs is a conflict. `idempotency_key`, when set, is unique
    among the aggregates of one type, and the repository finds the aggregate by it."""

    id: str
    version: int
    persisted_version: int
    pending_events: list[DomainEvent]
    idempotency_key: str | None = None

    def __init__(self, aggregate_id: str, version: int = 0) -> None:
        self.id = aggregate_id
        self.version = version
        self.persisted_version = version
        self.pending_events = []

    def copy(self) -> Self:
        """A private copy. Aggregates hold immutable values except the list of pending events,
        so a shallow copy with its own list is as good as a deep one, and far cheaper."""
        clone = copy.copy(self)
        clone.pending_events = list(self.pending_events)
        return clone

    def _record(self, event: DomainEvent) -> None:
        self._apply(event)
        self.pending_events.append(event)

    @abstractmethod
    def _apply(self, event: DomainEvent) -> None:
        """Change state from an event: the single place state changes, for live and replay alike.
        Must set `version` to the event's aggregate_version."""


A = TypeVar("A", bound=Aggregate)


@dataclass(frozen=True, eq=False)
class AggregateCodec(Generic[A]):
    """How a store keeps one aggregate type without knowing it.

    - `name`: the qualified type name ("orders.Order"); stores key their rows by it.
    - `to_state` / `from_state`: the aggregate's whole state as JSON-ready data and back
      (state storage, and snapshots of event-sourced aggregates).
    - `replay(events, base)`: the aggregate from its events, on top of a snapshot `base` or None.
    """

    name: str
    to_state: Callable[[A], dict[str, Any]]
    from_state: Callable[[dict[str, Any]], A]
    replay: Callable[[Sequence[DomainEvent], A | None], A]

    @property
    def kind(self) -> str:
        """The aggregate type in words, for messages: "orders.Order" -> "order"."""
        return self.name.rsplit(".", 1)[-1].lower()

    def rebuild(self, snapshot: dict[str, Any] | None, read_stream: Callable[[int], list[DomainEvent]]) -> A | None:
        """The aggregate from its latest snapshot (if any) plus the events after it; None if it
        has neither. `read_stream(from_version)` reads the aggregate's stream."""
        base = self.from_state(snapshot) if snapshot is not None else None
        events = read_stream((base.version if base else 0) + 1)
        if base is None and not events:
            return None
        aggregate = self.replay(events, base)
        aggregate.persisted_version = aggregate.version
        return aggregate


def replayer(new: Callable[[str], A]) -> Callable[[Sequence[DomainEvent], A | None], A]:
    """A codec's `replay` for an aggregate whose every event goes through `_apply`: onto the
    snapshot when there is one, else onto `new(id)`."""

    def replay(events: Sequence[DomainEvent], base: A | None) -> A:
        aggregate = base or new(events[0].aggregate_id)
        for event in events:
            aggregate._apply(event)
        return aggregate

    return replay


def snapshot_due(persisted_version: int, new_version: int, every: int) -> bool:
    """Whether a save that moves an aggregate from `persisted_version` to `new_version` crosses a
    multiple of `every`, so at most `every - 1` events are replayed on top of a snapshot."""
    return new_version // every > persisted_version // every


@dataclass(frozen=True)
class Staged:
    """What a unit of work hands a store at commit for one changed aggregate."""

    aggregate: Aggregate
    codec: AggregateCodec[Any]

    @property
    def expected_version(self) -> int:
        return self.aggregate.persisted_version
