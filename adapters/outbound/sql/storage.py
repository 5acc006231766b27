"""The Storage port on SQL: SQLite (the embedded default) or PostgreSQL, same code for both, for
any bounded context's aggregates and views."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import text

from adapters.outbound.sql.committer import MODES, SqlCommitter
from adapters.outbound.sql.database import Database
from adapters.outbound.sql.engine import SqlTarget, target_for
from adapters.outbound.sql.event_store import SqlEventStore
from adapters.outbound.sql.migrate import ensure_current
from adapters.outbound.sql.outbox import SqlOutbox
from adapters.outbound.sql.read_model import SqlReadModel
from adapters.outbound.sql.sagas import SqlSagaStore, SqlTimerStore
from adapters.outbound.sql.statements import STATE_IDS, STREAM_IDS
from core.kernel.aggregate import AggregateCodec
from core.kernel.messages import DomainEvent, event_from_dict, is_event_type
from core.runtime.commit_queue import CommitQueue


class SqlStorage:
    """Opens the database, refuses a schema it was not written for (upgrading a store it manages
    itself), and hands out the storage ports over it. `mode` is "state" or "events"."""

    def __init__(self, target: SqlTarget, mode: str = "state", snapshot_every: int = 50) -> None:
        if mode not in MODES:  # before anything opens, so a bad setting leaves nothing behind
            raise ValueError(f"storage mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self._db = Database(target)
        try:
            # One queue per store: this process's concurrent writers share its transactions.
            self.committer = CommitQueue(SqlCommitter(self._db, mode, snapshot_every))
            ensure_current(self._db.engine, target)
        except BaseException:
            self._db.close()
            raise
        self.read_model = SqlReadModel(self._db)
        self.outbox = SqlOutbox(self._db)
        self.event_store = SqlEventStore(self._db)
        self.sagas = SqlSagaStore(self._db)
        self.timers = SqlTimerStore(self._db)

    def aggregate_ids(self, codec: AggregateCodec[Any]) -> list[str]:
        query = STREAM_IDS if self.mode == "events" else STATE_IDS
        with self._db.reading() as connection:
            ids = connection.execute(query, {"type": codec.name}).scalars().all()
        # Sorted here, not by ORDER BY: the same order (Python's) on every dialect and collation.
        return sorted(ids)

    def history(self, aggregate_id: str) -> list[DomainEvent]:
        """Events mode: the stream. State mode: the aggregate's retained outbox rows that carry
        events (an aggregate's row may also carry a command it sent, which is not history)."""
        if self.mode == "events":
            return self.event_store.read_stream(aggregate_id)
        return [event_from_dict(json.loads(record.payload)) for record in self.outbox.history(aggregate_id)
                if is_event_type(record.type)]

    def close(self) -> None:
        self.outbox.release_all()
        self._db.close()

    def describe(self) -> str:
        return self._db.target.shown

    def check(self) -> None:
        with self._db.reading() as connection:
            connection.execute(text("SELECT 1"))


def open_sql_storage(adapter: str, data_dir: Path, url: str, *, mode: str, snapshot_every: int,
                     busy_timeout_ms: int = 5000, connect_timeout_s: int = 5,
                     service: str | None = None) -> SqlStorage:
    """The "sqlite" or "postgres" storage adapter (see engine.target_for for how `url` is read,
    and how `service` names a database of the service's own)."""
    target = target_for(adapter, data_dir, url, busy_timeout_ms=busy_timeout_ms,
                        connect_timeout_s=connect_timeout_s, service=service)
    if target is None:
        raise ValueError(f"{adapter!r} is not a SQL storage adapter")
    return SqlStorage(target, mode, snapshot_every)
