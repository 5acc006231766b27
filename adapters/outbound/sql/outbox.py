"""The Outbox port on SQL (the relay's side), safe for several relays at once on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, exists, func, select, update
from sqlalchemy.exc import DBAPIError

from adapters.outbound.sql.database import Database
from adapters.outbound.sql.engine import translated
from adapters.outbound.sql.prepared import Driver
from adapters.outbound.sql.rows import outbox_from_row
from adapters.outbound.sql.schema import outbox
from core.kernel.envelope import OutboxRecord
from ports.storage import OutboxRow, ParkedRow

_UNPUBLISHED = outbox.c.published_at.is_(None)
_PARKED = outbox.c.parked_at.is_not(None)
_NOT_PARKED = outbox.c.parked_at.is_(None)
# Rows of an aggregate after one of its parked rows wait behind it (ix_outbox_parked answers this).
_earlier = outbox.alias("earlier")
_BEHIND_PARKED = exists().where(_earlier.c.parked_at.is_not(None), _earlier.c.aggregate_id == outbox.c.aggregate_id,
                                _earlier.c.seq < outbox.c.seq)
_CLAIMABLE = (_UNPUBLISHED, _NOT_PARKED, ~_BEHIND_PARKED)
# The same claim as text for the raw driver (SQLite): ix_outbox_unpublished serves `seq > ?`.
_CLAIM_SQLITE = (
    "SELECT seq, event_id, aggregate_id, aggregate_version, type, payload, topic FROM outbox AS o"
    " WHERE published_at IS NULL AND parked_at IS NULL AND seq > ? AND NOT EXISTS (SELECT 1 FROM outbox AS e"
    " WHERE e.parked_at IS NOT NULL AND e.aggregate_id = o.aggregate_id AND e.seq < o.seq)"
    " ORDER BY seq LIMIT ?")
# Without a parked row (nearly always) the claim needs no look-up per row; only the relay parks.
_ANY_PARKED_SQLITE = "SELECT EXISTS (SELECT 1 FROM outbox WHERE parked_at IS NOT NULL)"
_CLAIM_UNPARKED_SQLITE = (
    "SELECT seq, event_id, aggregate_id, aggregate_version, type, payload, topic FROM outbox"
    " WHERE published_at IS NULL AND parked_at IS NULL AND seq > ? ORDER BY seq LIMIT ?")
_MARK_RANGE_SQLITE = "UPDATE outbox SET published_at = ? WHERE seq BETWEEN ? AND ? AND published_at IS NULL"
# PostgreSQL's claim in one round trip on the raw driver: lock the next claimable rows (SKIP LOCKED:
# those another relay holds are passed over), and say per row whether an earlier unpublished row
# of its aggregate is held by no one here: neither in this claim nor in the claimant's earlier
# claims still in flight (the runs of seqs `unnest(%s, %s)` spells). Such a row (another relay
# holds the earlier one, or it committed late) would overtake it, so it is left out, and its lock
# stays with the claim until that ends. The flag is a column, not a NOT EXISTS in WHERE: there
# the planner makes it an anti join that reads the whole table; here it is one probe of
# ix_outbox_aggregate per row. Without a parked row the parked look-up is one probe of an empty
# partial index per row.
_OUTBOX_ROW = "seq, event_id, aggregate_id, aggregate_version, type, payload, topic"
_CLAIM_POSTGRES = (
    "WITH claimed AS (SELECT {columns} FROM outbox AS o"
    " WHERE o.published_at IS NULL AND o.parked_at IS NULL AND o.seq > %s AND NOT EXISTS (SELECT 1 FROM outbox AS p"
    " WHERE p.parked_at IS NOT NULL AND p.aggregate_id = o.aggregate_id AND p.seq < o.seq)"
    " ORDER BY o.seq LIMIT %s FOR UPDATE SKIP LOCKED)"
    " SELECT c.*, EXISTS (SELECT 1 FROM outbox AS e WHERE e.aggregate_id = c.aggregate_id AND e.seq < c.seq"
    " AND e.published_at IS NULL AND e.seq NOT IN (SELECT seq FROM claimed) AND NOT EXISTS (SELECT 1"
    " FROM unnest(%s::bigint[], %s::bigint[]) AS f (first, last) WHERE e.seq BETWEEN f.first AND f.last))"
    " FROM claimed AS c ORDER BY c.seq")
_CLAIM_ROWS_POSTGRES = _CLAIM_POSTGRES.format(columns=_OUTBOX_ROW)
_CLAIM_RECORDS_POSTGRES = _CLAIM_POSTGRES.format(columns=f"{_OUTBOX_ROW}, created_at")
_ASYNC_COMMIT_POSTGRES = "SET LOCAL synchronous_commit = off"
_MARK_RANGE_POSTGRES = "UPDATE outbox SET published_at = %s WHERE seq BETWEEN %s AND %s AND published_at IS NULL"


@dataclass(eq=False)
class _Claim:
    """One claim's open transaction on the raw driver (PostgreSQL), holding its rows' locks."""

    driver: Driver
    seqs: set[int]
    runs: list[tuple[int, int]]


class SqlOutbox:
    """How concurrent relays use it (PostgreSQL): a relay calls `claim(limit)`, publishes the rows,
    then calls `mark_published(seqs, at)`. `claim` locks the rows it returns with
    `SELECT ... FOR UPDATE SKIP LOCKED` in a transaction it keeps open, so other relays skip them;
    `mark_published` marks them in that same transaction and commits, which releases the locks
    (the claim is one statement and the mark with its commit one round trip, on the raw driver).
    Claimed rows left unmarked become claimable again when the claim ends: at the claiming
    thread's next `claim`, at `release()`, at `close()`, or when a crashed relay's connection drops.
    A row is only handed out while no earlier unpublished row of its aggregate is held by
    another relay, so each aggregate's events still go out in version order. A pipelining relay
    claims again above the rows it has in flight (`claim(limit, after)`): each such claim is a
    transaction of its own, so marking one batch commits it without unlocking the others.

    On SQLite the claim is a plain read (FOR UPDATE does not exist there): run one relay, which
    `relay_lock()` lets the relay enforce.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._claims: dict[int, list[_Claim]] = {}

    def claim(self, limit: int, after: int = 0) -> list[OutboxRecord]:
        if self._db.dialect != "postgresql":
            query = select(outbox).where(*_CLAIMABLE, outbox.c.seq > after).order_by(outbox.c.seq).limit(limit)
            with self._db.reading() as connection:
                return [outbox_from_row(row) for row in connection.execute(query)]
        return [OutboxRecord(seq=seq, event_id=event_id, aggregate_id=aggregate_id, aggregate_version=version,
                             type=type_, payload=payload, topic=topic, created_at=created_at.astimezone(UTC))
                for seq, event_id, aggregate_id, version, type_, payload, topic, created_at
                in self._claim_postgres(_CLAIM_RECORDS_POSTGRES, limit, after)]

    def claim_rows(self, limit: int, after: int = 0) -> list[OutboxRow]:
        if self._db.dialect == "postgresql":
            return list(map(OutboxRow._make, self._claim_postgres(_CLAIM_ROWS_POSTGRES, limit, after)))
        # A plain read on the raw driver (one writer: rows commit in seq order, so nothing commits
        # later below a seq already seen); the driver's tuples are the rows, no type processing.
        with translated(self._db.target):
            driver = Driver(self._db.engine.raw_connection(), self._db.engine.dialect)
            try:
                cursor = driver.run(_ANY_PARKED_SQLITE)
                (parked,) = cursor.fetchone()
                cursor.close()
                cursor = driver.run(_CLAIM_SQLITE if parked else _CLAIM_UNPARKED_SQLITE, (after, limit))
                fetched = cursor.fetchall()
                cursor.close()
            finally:
                driver.connection.close()
        return list(map(OutboxRow._make, fetched))

    def _claim_postgres(self, sql: str, limit: int, after: int) -> list[tuple[Any, ...]]:
        """The claimed rows' columns as the driver returns them (the claim's flag taken off); the
        claim is held open in a transaction of its own on a pooled connection until marked or ended."""
        # A claim above `after` is one more of this thread's claims (a pipelining relay: the
        # rows it has in flight stay locked, each batch in its own transaction, so marking one
        # commits it alone); a claim from the start ends them first, as the contract says.
        if not after:
            self.release()
        with self._lock:
            in_flight = [run for claim in self._claims.get(threading.get_ident(), []) for run in claim.runs]
        with translated(self._db.target):
            driver = Driver(self._db.engine.raw_connection(), self._db.engine.dialect)
            try:
                fetched = _fetch(driver, sql, (after, limit, [first for first, _ in in_flight],
                                               [last for _, last in in_flight]))
            except BaseException:
                driver.end(commit=False)
                raise
        rows = [row[:-1] for row in fetched if not row[-1]]
        if not rows:
            with translated(self._db.target):
                driver.end(commit=False)
            return []
        seqs = [row[0] for row in rows]
        with self._lock:
            self._claims.setdefault(threading.get_ident(), []).append(_Claim(driver, set(seqs), _runs(seqs)))
        return rows

    def mark_published(self, seqs: Sequence[int], at: datetime) -> None:
        wanted = set(seqs)
        if not wanted:
            return
        with self._lock:
            holding = [claim for claims in self._claims.values() for claim in claims if claim.seqs & wanted]
            for claims in self._claims.values():
                claims[:] = [claim for claim in claims if claim not in holding]
        for index, claim in enumerate(holding):
            # Marked in the claim's own transaction: its row locks would block any other.
            try:
                with translated(self._db.target):
                    _commit_marks(claim.driver, claim.runs if claim.seqs <= wanted else _runs(claim.seqs & wanted),
                                  at)
            except BaseException:
                # The claims after it are ended unmarked (claimable again), not left holding locks.
                for rest in holding[index + 1:]:
                    with suppress(Exception):
                        _end(rest)
                raise
        rest = wanted.difference(*(claim.seqs for claim in holding))
        if rest:
            self._mark_elsewhere(rest, at)

    def _mark_elsewhere(self, seqs: set[int], at: datetime) -> None:
        if self._db.dialect != "sqlite":
            with self._db.writing() as connection:
                _mark(connection, seqs, at)
            return
        # SQLite stores naive UTC text (types.UtcDateTime): bound here in the same format.
        stamp = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        driver = self._db.driver()
        try:
            with translated(self._db.target):
                driver.run(_MARK_RANGE_SQLITE, [(stamp, first, last) for first, last in _runs(seqs)],
                           many=True).close()
        except BaseException:
            driver.end(commit=False)
            raise
        with translated(self._db.target):
            driver.end(commit=True)

    def release(self) -> None:
        """End this thread's claims without publishing: their rows become claimable again."""
        with self._lock:
            claims = self._claims.pop(threading.get_ident(), [])
        for claim in claims:
            _end(claim)

    def release_all(self) -> None:
        with self._lock:
            claims, self._claims = [c for cs in self._claims.values() for c in cs], {}
        for claim in claims:
            _end(claim)

    def pending_count(self) -> int:
        query = select(func.count()).select_from(outbox).where(_UNPUBLISHED, _NOT_PARKED)
        with self._db.reading() as connection:
            return int(connection.execute(query).scalar_one())

    def oldest_pending_at(self) -> datetime | None:
        query = select(outbox.c.created_at).where(_UNPUBLISHED, _NOT_PARKED).order_by(outbox.c.seq).limit(1)
        with self._db.reading() as connection:
            oldest: datetime | None = connection.execute(query).scalar()
        return oldest

    def purge_published(self, before: datetime) -> int:
        with self._db.writing() as connection:
            return int(connection.execute(delete(outbox).where(outbox.c.published_at < before)).rowcount)

    def recent(self, limit: int) -> list[OutboxRecord]:
        with self._db.reading() as connection:
            rows = connection.execute(select(outbox).order_by(outbox.c.seq.desc()).limit(limit))
            return [outbox_from_row(row) for row in rows]

    def history(self, aggregate_id: str) -> list[OutboxRecord]:
        query = select(outbox).where(outbox.c.aggregate_id == aggregate_id).order_by(outbox.c.aggregate_version)
        with self._db.reading() as connection:
            return [outbox_from_row(row) for row in connection.execute(query)]

    def park(self, seq: int, reason: str, at: datetime) -> bool:
        # The relay parks a row it claimed: this thread's claim holds the row's lock, so end it first
        # (its unmarked rows become claimable again) rather than wait on our own lock.
        self.release()
        statement = (update(outbox).where(outbox.c.seq == seq, _UNPUBLISHED, _NOT_PARKED)
                     .values(parked_at=at, parked_reason=reason))
        with self._db.writing() as connection:
            return bool(connection.execute(statement).rowcount)

    def parked(self) -> list[ParkedRow]:
        query = select(outbox).where(_PARKED).order_by(outbox.c.seq)
        with self._db.reading() as connection:
            return [ParkedRow(record=outbox_from_row(row), reason=row.parked_reason or "", parked_at=row.parked_at)
                    for row in connection.execute(query)]

    def retry(self, seq: int) -> bool:
        statement = update(outbox).where(outbox.c.seq == seq, _PARKED).values(parked_at=None, parked_reason=None)
        with self._db.writing() as connection:
            return bool(connection.execute(statement).rowcount)

    def drop(self, seq: int) -> OutboxRecord | None:
        with self._db.writing() as connection:
            row = connection.execute(delete(outbox).where(outbox.c.seq == seq, _PARKED).returning(*outbox.c)).first()
        return outbox_from_row(row) if row is not None else None

    def requeue_published(self) -> int:
        statement = update(outbox).where(outbox.c.published_at.is_not(None)).values(published_at=None)
        with self._db.writing() as connection:
            return int(connection.execute(statement).rowcount)

    def relay_lock(self) -> str | None:
        """Beside the SQLite file (every process on that file sees it, whatever its data directory);
        None on PostgreSQL, where claims lock rows and several relays share the outbox."""
        path = self._db.target.sqlite_path
        return None if path is None else f"{path}.relay.lock"


def _fetch(driver: Driver, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Rows of one statement prepared on the server at once (the claim runs many times on each
    pooled connection, so its plan is made once per connection, not per batch)."""
    dbapi = driver.dialect.loaded_dbapi
    try:
        with driver.connection.driver_connection.cursor() as cursor:
            cursor.execute(sql, params, prepare=True)
            return cursor.fetchall()
    except dbapi.Error as exc:
        raise DBAPIError.instance(sql, params, exc, dbapi.Error, dialect=driver.dialect) from exc


def _runs(seqs: Iterable[int]) -> list[tuple[int, int]]:
    """`seqs` as runs of consecutive numbers, (first, last) each: a batch is usually one run,
    so marking it is one range update instead of a bind per row."""
    runs: list[tuple[int, int]] = []
    for seq in sorted(seqs):
        if runs and runs[-1][1] == seq - 1:
            runs[-1] = (runs[-1][0], seq)
        else:
            runs.append((seq, seq))
    return runs


def _mark(connection: Connection, seqs: set[int], at: datetime) -> None:
    for first, last in _runs(seqs):
        connection.execute(update(outbox).where(outbox.c.seq.between(first, last), _UNPUBLISHED)
                           .values(published_at=at))


def _commit_marks(driver: Driver, runs: list[tuple[int, int]], at: datetime) -> None:
    """Mark the `runs` of seqs and commit the claim's transaction, in one round trip (psycopg's pipeline).
    The commit does not wait for its WAL flush: a mark the server loses in a crash only makes
    the relay publish those rows again (at least once: consumers drop the duplicates), while
    the wait would hold every batch's mark for a disk flush."""
    connection = driver.connection.driver_connection
    dbapi = driver.dialect.loaded_dbapi
    try:
        with connection.pipeline(), connection.cursor() as cursor:
            cursor.execute(_ASYNC_COMMIT_POSTGRES)
            cursor.executemany(_MARK_RANGE_POSTGRES, [(at, first, last) for first, last in runs])
            connection.commit()
    except BaseException as exc:
        with suppress(Exception):  # what failed is raised below; a broken connection is dropped by the pool
            driver.end(commit=False)
        if isinstance(exc, dbapi.Error):
            raise DBAPIError.instance(_MARK_RANGE_POSTGRES, (), exc, dbapi.Error, dialect=driver.dialect) from exc
        raise
    driver.connection.close()


def _end(claim: _Claim) -> None:
    claim.driver.end(commit=False)
