"""Sagas on SQL: the committer's saga writes (inside its one write transaction), and the SagaStore
and TimerStore ports.

A saga save is an `UPDATE ... WHERE version = :expected` (an INSERT for a new saga, whose primary
key turns a race into an IntegrityError), like an aggregate's: on PostgreSQL the loser of a race
waits for the winner's row lock, then finds the version moved. History rows are numbered on from
the saga's last seq; two units numbering the same saga's rows at once collide on the primary key,
which is a ConcurrencyConflict too (the runner reloads and decides again).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, and_, func, or_, select, tuple_
from sqlalchemy.exc import IntegrityError

from adapters.outbound.sql.database import Database
from adapters.outbound.sql.engine import translated
from adapters.outbound.sql.prepared import Driver, execute, execute_many, first, scalar
from adapters.outbound.sql.rows import dumps, loads
from adapters.outbound.sql.schema import saga_history, saga_timers, sagas
from adapters.outbound.sql.statements import (
    CANCEL_TIMER,
    CLAIM_TIMER,
    INSERT_HISTORY,
    INSERT_SAGA,
    LAST_HISTORY_SEQ,
    SAGA_BY_ID,
    SAVE_SAGA,
    UPSERT_TIMER,
)
from adapters.outbound.sql.types import utc_from_driver
from core.kernel.errors import ConcurrencyConflict
from ports.sagas import HistoryRow, SagaChanges, SagaRecord, Timer


def write_sagas(driver: Driver, changes: SagaChanges) -> None:
    """A unit of work's saga changes, in the committer's write transaction. Rows are written in
    saga id order, so two writers on PostgreSQL queue rather than deadlock."""
    # A saga inserted by this write has no history yet: its rows are numbered from 0 unread.
    last: dict[str, int] = {}
    for record, expected in sorted(changes.saves, key=lambda save: save[0].saga_id):
        _save(driver, record, expected)
        if expected == 0:
            last[record.saga_id] = 0
    rows = []
    for saga_id, entry in changes.history:
        if saga_id not in last:
            last[saga_id] = int(scalar(driver, LAST_HISTORY_SEQ, {"saga_id": saga_id}))
        last[saga_id] += 1
        rows.append({"saga_id": saga_id, "seq": last[saga_id], "entry": dumps(entry)})
    for row in sorted(rows, key=lambda row: (row["saga_id"], row["seq"])):
        try:
            execute(driver, INSERT_HISTORY, row)
        except IntegrityError as exc:  # another unit numbered this saga's rows first
            raise ConcurrencyConflict(row["saga_id"], row["seq"] - 1) from exc
    cancelled = [{"saga_id": saga_id, "step": step, "generation": generation}
                 for saga_id, step, generation in sorted(changes.cancelled)]
    execute_many(driver, CANCEL_TIMER, cancelled)
    upsert = UPSERT_TIMER[driver.dialect.name]
    for timer in sorted(changes.timers, key=lambda t: (t.saga_id, t.step, t.generation)):
        execute(driver, upsert, {"saga_id": timer.saga_id, "step": timer.step, "generation": timer.generation,
                                 "due_at": timer.due_at})


def _save(driver: Driver, record: SagaRecord, expected: int) -> None:
    values = {"definition": record.definition, "state": record.state, "instance": dumps(record.instance),
              "version": record.version, "started_at": record.started_at, "updated_at": record.updated_at,
              "next_due": record.next_due}
    if expected == 0:
        try:
            execute(driver, INSERT_SAGA, {"saga_id": record.saga_id, **values})
        except IntegrityError as exc:  # it exists: someone started it first
            raise ConcurrencyConflict(record.saga_id, 0) from exc
        return
    if execute(driver, SAVE_SAGA, {"where_saga_id": record.saga_id, "where_version": expected, **values}) != 1:
        raise ConcurrencyConflict(record.saga_id, expected)


def saga_from_row(row: Row[Any]) -> SagaRecord:
    return SagaRecord(saga_id=row.saga_id, definition=row.definition, state=row.state,
                      instance=loads(row.instance), version=row.version, started_at=row.started_at,
                      updated_at=row.updated_at, next_due=row.next_due)


def load_saga(db: Database, saga_id: str) -> SagaRecord | None:
    # On the driver: every reply and timer reads its saga first, so this is the saga consumers'
    # hot path (through `Connection` it was a twentieth of `serve`'s busy time under load).
    with db.querying() as driver:
        row = first(driver, SAGA_BY_ID, {"saga_id": saga_id})
    if row is None:
        return None
    found, definition, state, instance, version, started_at, updated_at, next_due = row
    started, updated = utc_from_driver(started_at), utc_from_driver(updated_at)
    assert started is not None and updated is not None, "the schema makes both NOT NULL"
    return SagaRecord(saga_id=found, definition=definition, state=state, instance=loads(instance), version=version,
                      started_at=started, updated_at=updated, next_due=utc_from_driver(next_due))


class SqlSagaStore:
    """The SagaStore port on SQL (committed sagas)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, saga_id: str) -> SagaRecord | None:
        return load_saga(self._db, saga_id)

    def list(self, state: str | None = None, after: str | None = None, limit: int = 100) -> list[SagaRecord]:
        query = select(sagas)
        if state is not None:
            query = query.where(sagas.c.state == state)
        if after is not None:
            last = select(sagas.c.started_at, sagas.c.saga_id).where(sagas.c.saga_id == after).subquery()
            # An unknown `after` matches no row of the subquery, so the page is empty.
            query = query.join(last, tuple_(sagas.c.started_at, sagas.c.saga_id)
                               < tuple_(last.c.started_at, last.c.saga_id))
        query = query.order_by(sagas.c.started_at.desc(), sagas.c.saga_id.desc()).limit(max(limit, 0))
        with self._db.reading() as connection:
            return [saga_from_row(row) for row in connection.execute(query)]

    def history(self, saga_id: str) -> list[HistoryRow]:
        query = select(saga_history).where(saga_history.c.saga_id == saga_id).order_by(saga_history.c.seq)
        with self._db.reading() as connection:
            return [HistoryRow(saga_id=row.saga_id, seq=row.seq, entry=loads(row.entry))
                    for row in connection.execute(query)]

    def counts(self) -> dict[str, int]:
        query = select(sagas.c.state, func.count()).group_by(sagas.c.state)
        with self._db.reading() as connection:
            return {row[0]: row[1] for row in connection.execute(query)}


_ORDER = (saga_timers.c.due_at, saga_timers.c.saga_id, saga_timers.c.step, saga_timers.c.generation)


def _timer(row: Row[Any]) -> Timer:
    return Timer(row.saga_id, row.step, row.generation, row.due_at)


class SqlTimerStore:
    """The TimerStore port on SQL. A claim is one short write transaction: on PostgreSQL it
    selects due timers `FOR UPDATE SKIP LOCKED` (so workers claiming at once take disjoint
    timers) and sets their lease in the same transaction; on SQLite the transaction is
    `BEGIN IMMEDIATE`, which already keeps other writers out."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def claim_due(self, now: datetime, limit: int, lease_seconds: float) -> list[Timer]:
        free = or_(saga_timers.c.claimed_until.is_(None), saga_timers.c.claimed_until <= now)
        query = select(saga_timers).where(and_(saga_timers.c.due_at <= now, free)).order_by(*_ORDER)
        query = query.limit(max(limit, 0))
        if self._db.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        until = now + timedelta(seconds=lease_seconds)
        with self._db.writing() as connection:
            timers = [_timer(row) for row in connection.execute(query)]
            if timers:
                with translated(self._db.target):
                    connection.execute(CLAIM_TIMER, [
                        {"where_saga_id": t.saga_id, "where_step": t.step, "where_generation": t.generation,
                         "claimed_until": until}
                        for t in timers])
        return timers

    def pending(self, saga_id: str) -> list[Timer]:
        query = select(saga_timers).where(saga_timers.c.saga_id == saga_id).order_by(*_ORDER)
        with self._db.reading() as connection:
            return [_timer(row) for row in connection.execute(query)]

    def next_due(self) -> datetime | None:
        with self._db.reading() as connection:
            value: datetime | None = connection.execute(select(func.min(saga_timers.c.due_at))).scalar()
        return value
