from __future__ import annotations

from typing import Protocol

from ports.event_store import EventStore
from ports.outbox import Outbox
from ports.read_model import ReadModel
from ports.unit_of_work import UnitOfWork


class Storage(Protocol):
    """One service's database (database per service): the storage ports over one store.

    Contract: every unit of work from `unit_of_work()` commits into this store only; the
    `read_model`, `outbox` and `event_store` see what those units committed and nothing else.
    `close()` releases connections and locks; the store may be used again afterwards (it
    reopens), and its data is still there. `describe()` names the store for people (a path or
    a URL without password). `order_ids()` lists every stored order's id (for rebuilding projections).
    `check()` returns if the store answers, else raises Unavailable
    naming it and what to do.
    """

    read_model: ReadModel
    outbox: Outbox
    event_store: EventStore

    def unit_of_work(self) -> UnitOfWork: ...

    def order_ids(self) -> list[str]: ...

    def close(self) -> None: ...

    def describe(self) -> str: ...

    def check(self) -> None: ...
