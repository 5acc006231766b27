"""Both SQL stores for the integration tests (SQLite in a temp dir, PostgreSQL on a fresh
database), and the orders service over one, built from its parts: these tests are about the
store, so they need no composition root."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from adapters.outbound.memory.feed import RingBufferFeed
from adapters.outbound.sql.storage import SqlStorage, open_sql_storage
from adapters.outbound.system.clock import SystemClock
from adapters.outbound.system.ids import Uuid7Ids
from core.orders.service import CONTEXT
from core.runtime.service import Service
from ports.storage import Storage

SQL_STORES = [pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)]
EVENTS_TOPIC = "orderhex.orders.events"


@dataclass(frozen=True)
class SqlStore:
    """Where a fresh, empty SQL store of one kind is: open it as often as a test needs."""

    adapter: str
    data_dir: Path
    url: str = ""

    def open(self, mode: str = "state", snapshot_every: int = 50) -> SqlStorage:
        return open_sql_storage(self.adapter, self.data_dir, self.url, mode=mode, snapshot_every=snapshot_every)


@pytest.fixture(params=SQL_STORES)
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> SqlStore:
    if request.param == "postgres":
        return SqlStore("postgres", tmp_path, request.getfixturevalue("postgres_url"))
    return SqlStore("sqlite", tmp_path)


S = TypeVar("S", bound=Service)


def orders_service(storage: Storage, kind: type[S] = Service) -> S:  # type: ignore[assignment]
    """The orders service over `storage`, with real time and ids, as a process runs it."""
    return kind(CONTEXT, storage=storage, feed=RingBufferFeed(), clock=SystemClock(), ids=Uuid7Ids(),
                   events_topic=EVENTS_TOPIC)
