"""The counters context: one aggregate, one command, one event, one view, one reaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.kernel.aggregate import Aggregate, AggregateCodec
from core.kernel.errors import ValidationError
from core.kernel.messages import Command, DomainEvent
from core.kernel.views import View, sort_time
from core.runtime.context import Context
from ports.storage import UnitOfWork, ViewWriter


@dataclass(frozen=True, kw_only=True)
class Incremented(DomainEvent, context="counters"):
    by: int

    @classmethod
    def from_payload(cls, *, payload: dict[str, Any], **meta: Any) -> Incremented:
        return cls(**meta, by=int(payload["by"]))


@dataclass(frozen=True, kw_only=True)
class Increment(Command, context="counters"):
    counter_id: str
    by: int = 1


class Counter(Aggregate):
    def __init__(self, counter_id: str, value: int = 0, version: int = 0, created_at: datetime | None = None) -> None:
        super().__init__(counter_id, version)
        self.value = value
        self.created_at = created_at

    def increment(self, by: int, *, now: datetime, event_id: str) -> None:
        if by < 1:
            raise ValidationError("by", f"must be 1 or more, got {by}")
        self._record(Incremented(event_id=event_id, aggregate_id=self.id, aggregate_version=self.version + 1,
                                 occurred_at=now, by=by))

    def _apply(self, event: DomainEvent) -> None:
        assert isinstance(event, Incremented)
        self.value += event.by
        self.created_at = self.created_at or event.occurred_at
        self.version = event.aggregate_version


def _replay(events: Sequence[DomainEvent], base: Counter | None) -> Counter:
    counter = base or Counter(events[0].aggregate_id)
    for event in events:
        counter._apply(event)
    return counter


COUNTER = AggregateCodec[Counter](
    name="counters.Counter",
    to_state=lambda c: {"id": c.id, "value": c.value, "version": c.version,
                        "created_at": c.created_at.isoformat() if c.created_at else None},
    from_state=lambda d: Counter(d["id"], d["value"], d["version"],
                                 datetime.fromisoformat(d["created_at"]) if d["created_at"] else None),
    replay=_replay,
)


@dataclass(frozen=True)
class Total:
    counter_id: str
    value: int
    created_at: datetime

    @property
    def parity(self) -> str:
        return "even" if self.value % 2 == 0 else "odd"


TOTALS = View[Total](
    name="counters.totals",
    key=lambda t: t.counter_id,
    sort=lambda t: sort_time(t.created_at),
    filters=("parity",),
    tags=lambda t: (t.parity,),
    to_json=lambda t: {"counter_id": t.counter_id, "value": t.value, "created_at": t.created_at.isoformat()},
    from_json=lambda d: Total(d["counter_id"], d["value"], datetime.fromisoformat(d["created_at"])),
)


def project(views: ViewWriter, event: DomainEvent) -> None:
    assert isinstance(event, Incremented)
    current = views.get(TOTALS, event.aggregate_id)
    if current is None:
        views.put(TOTALS, Total(event.aggregate_id, event.by, event.occurred_at))
    else:
        views.put(TOTALS, Total(current.counter_id, current.value + event.by, current.created_at))


def summarise(views: ViewWriter, aggregate: Aggregate) -> None:
    assert isinstance(aggregate, Counter) and aggregate.created_at is not None
    views.put(TOTALS, Total(aggregate.id, aggregate.value, aggregate.created_at))


def increment(command: Increment, uow: UnitOfWork, now: Callable[[], datetime], new_id: Callable[[], str]) -> int:
    with uow:
        counters = uow.repository(COUNTER)
        counter = counters.get(command.counter_id)
        if counter is None:
            counter = Counter(command.counter_id)
            counters.add(counter)
        counter.increment(command.by, now=now(), event_id=new_id())
        uow.commit()
    return counter.value


# Reactions run after commit, through the bus; the test reads what they saw.
SEEN: list[str] = []


def remember(event: Incremented, uow: UnitOfWork, now: Callable[[], datetime], new_id: Callable[[], str]) -> None:
    SEEN.append(event.event_id)


CONTEXT = Context(
    name="counters",
    aggregates=(COUNTER,),
    command_handlers={Increment: increment},
    views=(TOTALS,),
    project=project,
    summarise=summarise,
    event_handlers={Incremented: [remember]},
)
