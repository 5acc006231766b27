"""The Committer port on SQL: committed reads for the unit-of-work template, and its one write.

Reads run in short read transactions of their own, so a unit of work holds no lock while a
handler thinks. `write` is the whole unit of work in ONE write transaction, run on the driver
(prepared.py says why: it is the hot path), and a stale read is caught there by the version
checks: state rows are updated only `WHERE version = :expected`, streams appended only after
their current version, and new aggregates and idempotency keys are inserted, so the unique keys
turn a race into an IntegrityError, which is a ConcurrencyConflict here.

`write_batch` writes many units of work in one transaction, a savepoint around each, for the
commit queue (core/runtime/commit_queue.py) that the storage puts in front of this committer.

On PostgreSQL (READ COMMITTED) a writer that meets a row another transaction holds waits for it
to end, then re-checks: the loser of a race finds the version moved, or the key taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from adapters.outbound.sql.database import Database
from adapters.outbound.sql.event_store import append_events, lock_appends, read_stream
from adapters.outbound.sql.prepared import Driver, execute, first, scalar
from adapters.outbound.sql.read_model import advance_position, load_document, write_document
from adapters.outbound.sql.rows import dumps, loads, outbox_values
from adapters.outbound.sql.sagas import load_saga, write_sagas
from adapters.outbound.sql.statements import (
    ID_BY_KEY,
    INBOX_HAS,
    INSERT_AGGREGATE,
    INSERT_INBOX,
    INSERT_KEY,
    INSERT_OUTBOX,
    INSERT_SNAPSHOT,
    LATEST_SNAPSHOT,
    SAVE_AGGREGATE,
    STATE_BY_ID,
    STATE_BY_KEY,
)
from core.kernel.aggregate import Aggregate, AggregateCodec, Staged, snapshot_due
from core.kernel.envelope import OutboxRecord
from core.kernel.errors import AlreadyProcessed, ConcurrencyConflict
from core.kernel.views import View
from core.runtime.commit_queue import Outcome, PendingWrite
from ports.sagas import SagaChanges, SagaRecord

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")

MODES = ("state", "events")


class SqlCommitter:
    """`mode` "state" keeps each aggregate as its codec's JSON state in `aggregates`; "events"
    keeps its event stream in `events`, with a snapshot every `snapshot_every` events."""

    def __init__(self, db: Database, mode: str = "state", snapshot_every: int = 50) -> None:
        if mode not in MODES:
            raise ValueError(f"storage mode must be one of {MODES}, got {mode!r}")
        if snapshot_every < 1:
            raise ValueError(f"snapshot_every must be at least 1, got {snapshot_every}")
        self._db = db
        self._events = mode == "events"
        self._every = snapshot_every

    # -- committed reads ---------------------------------------------------------------------

    def load(self, codec: AggregateCodec[A], aggregate_id: str) -> A | None:
        if not self._events:
            with self._db.querying() as driver:
                row = first(driver, STATE_BY_ID, {"type": codec.name, "id": aggregate_id})
            return codec.from_state(loads(row[0])) if row is not None else None
        with self._db.reading() as connection:
            return self._rebuild(connection, codec, aggregate_id)

    def load_by_key(self, codec: AggregateCodec[A], key: str) -> A | None:
        # On the driver: a keyed PlaceOrder looks its key up on every call, so this read is on
        # the hot path (through `Connection` it cost as much as the write that follows).
        params = {"type": codec.name, "key": key}
        if not self._events:
            with self._db.querying() as driver:
                row = first(driver, STATE_BY_KEY, params)
            return codec.from_state(loads(row[0])) if row is not None else None
        with self._db.querying() as driver:
            row = first(driver, ID_BY_KEY, params)
        return self.load(codec, row[0]) if row is not None else None

    def _rebuild(self, connection: Connection, codec: AggregateCodec[A], aggregate_id: str) -> A | None:
        # A snapshot, then the events after it: appends never change earlier events, so the two
        # reads agree even if an append commits between them.
        snapshot = connection.execute(LATEST_SNAPSHOT, {"id": aggregate_id}).scalar()
        return codec.rebuild(loads(snapshot) if snapshot is not None else None,
                             lambda version: read_stream(connection, aggregate_id, version))

    def document(self, view: View[T], key: str) -> T | None:
        with self._db.reading() as connection:
            return load_document(connection, view, key)

    def seen(self, message_id: str) -> bool:
        with self._db.querying() as driver:
            return first(driver, INBOX_HAS, {"message_id": message_id}) is not None

    def saga(self, saga_id: str) -> SagaRecord | None:
        return load_saga(self._db, saga_id)

    # -- the one write -----------------------------------------------------------------------

    def write(self, changes: Sequence[Staged], records: Sequence[OutboxRecord],
              documents: Sequence[tuple[View[Any], Any]], inbox_ids: Sequence[str], *,
              sagas: SagaChanges | None = None) -> list[int]:
        with self._db.driving() as driver:
            return self._write_on(driver, PendingWrite(changes, records, documents, inbox_ids, sagas))

    def write_batch(self, writes: Sequence[PendingWrite]) -> list[Outcome]:
        """Many units of work in one transaction (see CommitQueue), each inside a savepoint: a unit
        refused, or failing on a statement, is rolled back to its savepoint and fails alone."""
        outcomes: list[Outcome] = []
        with self._db.driving() as driver:
            for write in writes:
                driver.run("SAVEPOINT unit").close()
                try:
                    seqs = self._write_on(driver, write)
                except Exception as exc:  # the unit's own outcome, handed to its caller
                    driver.run("ROLLBACK TO SAVEPOINT unit").close()
                    outcomes.append(exc)
                    continue
                driver.run("RELEASE SAVEPOINT unit").close()
                outcomes.append(seqs)
        return outcomes

    def _write_on(self, driver: Driver, write: PendingWrite) -> list[int]:
        changes, records, documents, inbox_ids, sagas = (write.changes, write.records, write.documents,
                                                         write.inbox_ids, write.sagas)
        # Rows are written in one order by every writer (aggregates, sagas, then documents, by key), so
        # two units of work that touch the same rows on PostgreSQL queue rather than deadlock.
        ordered = sorted(changes, key=lambda staged: (staged.codec.name, staged.aggregate.id))
        if self._events and ordered:
            lock_appends(driver)
            payloads = {record.event_id: record.payload for record in records}
            for staged in ordered:
                self._append(driver, staged, payloads)
        else:
            for staged in ordered:
                self._save(driver, staged)
        if sagas:
            write_sagas(driver, sagas)
        for message_id in inbox_ids:
            try:
                execute(driver, INSERT_INBOX, {"message_id": message_id})
            except IntegrityError as exc:
                raise AlreadyProcessed(message_id) from exc
        seqs = [int(scalar(driver, INSERT_OUTBOX, outbox_values(record))) for record in records]
        for view, document in sorted(documents, key=lambda item: (item[0].name, item[0].key(item[1]))):
            write_document(driver, view, document)
        if seqs:
            advance_position(driver, seqs[-1])
        return seqs

    def _save(self, driver: Driver, staged: Staged) -> None:
        aggregate, codec = staged.aggregate, staged.codec
        values = {"version": aggregate.version, "state": dumps(codec.to_state(aggregate))}
        if staged.expected_version == 0:
            try:
                execute(driver, INSERT_AGGREGATE, {"type": codec.name, "id": aggregate.id, **values})
            except IntegrityError as exc:  # someone added it first
                raise ConcurrencyConflict(aggregate.id, 0) from exc
            self._claim_key(driver, staged)
            return
        changed = execute(driver, SAVE_AGGREGATE, {"where_type": codec.name, "where_id": aggregate.id,
                                                   "where_version": staged.expected_version, **values})
        if changed != 1:
            raise ConcurrencyConflict(aggregate.id, staged.expected_version)

    def _append(self, driver: Driver, staged: Staged, payloads: dict[str, str]) -> None:
        aggregate, codec = staged.aggregate, staged.codec
        append_events(driver, aggregate.id, aggregate.pending_events, staged.expected_version,
                      aggregate_type=codec.name, payloads=payloads)
        if snapshot_due(staged.expected_version, aggregate.version, self._every):
            execute(driver, INSERT_SNAPSHOT, {"stream_id": aggregate.id, "version": aggregate.version,
                                              "data": dumps(codec.to_state(aggregate))})
        if staged.expected_version == 0:
            self._claim_key(driver, staged)

    @staticmethod
    def _claim_key(driver: Driver, staged: Staged) -> None:
        """A new aggregate's idempotency key: taken already means another request with the same
        key won the race, which the handler's retry then finds by the key."""
        key = staged.aggregate.idempotency_key
        if key is None:
            return
        try:
            execute(driver, INSERT_KEY, {"type": staged.codec.name, "idempotency_key": key,
                                         "aggregate_id": staged.aggregate.id})
        except IntegrityError as exc:
            raise ConcurrencyConflict(staged.aggregate.id, 0) from exc
