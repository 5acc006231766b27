"""The Outbox port on SQL (the relay's side), safe for several relays at once on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, delete, exists, func, select, update

from adapters.outbound.sql.database import Database
from adapters.outbound.sql.engine import translated
from adapters.outbound.sql.rows import outbox_from_row
from adapters.outbound.sql.schema import outbox
from core.kernel.envelope import OutboxRecord
from ports.storage import ParkedRow

_UNPUBLISHED = outbox.c.published_at.is_(None)
_PARKED = outbox.c.parked_at.is_not(None)
_NOT_PARKED = outbox.c.parked_at.is_(None)
# Rows of an aggregate after one of its parked rows wait behind it (ix_outbox_parked answers this).
_earlier = outbox.alias("earlier")
_BEHIND_PARKED = exists().where(_earlier.c.parked_at.is_not(None), _earlier.c.aggregate_id == outbox.c.aggregate_id,
                                _earlier.c.seq < outbox.c.seq)
_CLAIMABLE = (_UNPUBLISHED, _NOT_PARKED, ~_BEHIND_PARKED)


@dataclass
class _Claim:
    connection: Connection
    seqs: set[int] = field(default_factory=set)


class SqlOutbox:
    """How concurrent relays use it (PostgreSQL): a relay calls `claim(limit)`, publishes the rows,
    then calls `mark_published(seqs, at)`. `claim` locks the rows it returns with
    `SELECT ... FOR UPDATE SKIP LOCKED` in a transaction it keeps open, so other relays skip them;
    `mark_published` marks them in that same transaction and commits, which releases the locks.
    Claimed rows left unmarked become claimable again when the claim ends: at the claiming
    thread's next `claim`, at `release()`, at `close()`, or when a crashed relay's connection drops.
    A row is only handed out while no earlier unpublished row of its aggregate is held by
    another relay, so each aggregate's events still go out in version order.

    On SQLite the claim is a plain read (FOR UPDATE does not exist there): run one relay, which
    `relay_lock()` lets the relay enforce.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._claims: dict[int, _Claim] = {}

    def claim(self, limit: int) -> list[OutboxRecord]:
        self.release()
        query = select(outbox).where(*_CLAIMABLE).order_by(outbox.c.seq).limit(limit)
        if self._db.dialect != "postgresql":
            with self._db.reading() as connection:
                return [outbox_from_row(row) for row in connection.execute(query)]
        connection = self._db.writer()
        try:
            with translated(self._db.target):
                rows = [outbox_from_row(row) for row in connection.execute(query.with_for_update(skip_locked=True))]
                rows = _heads_of_their_aggregates(connection, rows)
        except BaseException:
            connection.rollback()
            connection.close()
            raise
        if not rows:
            connection.rollback()
            connection.close()
            return []
        with self._lock:
            self._claims[threading.get_ident()] = _Claim(connection, {r.seq for r in rows})
        return rows

    def mark_published(self, seqs: Sequence[int], at: datetime) -> None:
        wanted = set(seqs)
        with self._lock:
            holding = [(key, claim) for key, claim in self._claims.items() if claim.seqs & wanted]
            for key, _ in holding:
                del self._claims[key]
        for _, claim in holding:
            try:
                with translated(self._db.target):
                    _mark(claim.connection, claim.seqs & wanted, at)
                    claim.connection.commit()
            finally:
                claim.connection.close()
        rest = wanted.difference(*(claim.seqs for _, claim in holding))
        if rest:
            with self._db.writing() as connection:
                _mark(connection, rest, at)

    def release(self) -> None:
        """End this thread's claim without publishing: its rows become claimable again."""
        with self._lock:
            claim = self._claims.pop(threading.get_ident(), None)
        if claim is not None:
            _end(claim)

    def release_all(self) -> None:
        with self._lock:
            claims, self._claims = list(self._claims.values()), {}
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


def _heads_of_their_aggregates(connection: Connection, rows: list[OutboxRecord]) -> list[OutboxRecord]:
    """Keep, per aggregate, only the held rows that come before any unpublished row this claim
    does not hold (another relay holds it, or it committed late): the rest would overtake it."""
    if not rows:
        return rows
    held = {r.seq for r in rows}
    unpublished = connection.execute(
        select(outbox.c.aggregate_id, outbox.c.seq)
        .where(_UNPUBLISHED, outbox.c.aggregate_id.in_({r.aggregate_id for r in rows}), outbox.c.seq <= max(held))
        .order_by(outbox.c.seq)).all()
    allowed: set[int] = set()
    blocked: set[str] = set()
    for aggregate_id, seq in unpublished:
        if aggregate_id in blocked:
            continue
        if seq in held:
            allowed.add(seq)
        else:
            blocked.add(aggregate_id)
    return [r for r in rows if r.seq in allowed]


def _mark(connection: Connection, seqs: set[int], at: datetime) -> None:
    connection.execute(update(outbox).where(outbox.c.seq.in_(seqs), _UNPUBLISHED).values(published_at=at))


def _end(claim: _Claim) -> None:
    try:
        claim.connection.rollback()
    finally:
        claim.connection.close()
