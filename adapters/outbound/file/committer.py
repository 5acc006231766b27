"""The Committer port over a FileStore: committed reads for the unit-of-work template, and its one
atomic write, checked and committed as one journal line under the writer lock."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, TypeVar

from adapters.outbound.file.ports import document_entry, numbered, stored_document
from adapters.outbound.file.saga_json import record_to_json, timer_to_json
from adapters.outbound.file.state import FileState
from adapters.outbound.file.store import FileStore
from core.kernel.aggregate import Aggregate, AggregateCodec, Staged, snapshot_due
from core.kernel.envelope import OutboxRecord
from core.kernel.errors import AlreadyProcessed, ConcurrencyConflict
from core.kernel.messages import DomainEvent
from core.kernel.streams import check_append
from core.kernel.views import View
from ports.sagas import SagaChanges, SagaRecord

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")


class FileCommitter:
    """The Committer port over a FileStore (`snapshot_every`: events mode's snapshot interval)."""

    def __init__(self, store: FileStore, snapshot_every: int) -> None:
        self._store = store
        self._snapshot_every = snapshot_every

    def load(self, codec: AggregateCodec[A], aggregate_id: str) -> A | None:
        ident = (codec.name, aggregate_id)
        if self._store.mode != "events":
            state = self._store.read(lambda s: s.states.get(ident))
            return codec.from_state(state) if state is not None else None
        # The snapshot and a copy of the stream are taken under the store's lock, and replayed
        # outside it. Stored states are replaced, never changed in place, so sharing one is safe.
        snapshot, stream = self._store.read(lambda s: (s.states.get(ident), list(s.streams.get(aggregate_id, ()))))
        return codec.rebuild(snapshot, lambda version: [e for e in stream if e.aggregate_version >= version])

    def load_by_key(self, codec: AggregateCodec[A], key: str) -> A | None:
        aggregate_id = self._store.read(lambda state: state.keys.get((codec.name, key)))
        return self.load(codec, aggregate_id) if aggregate_id is not None else None

    def document(self, view: View[T], key: str) -> T | None:
        found = self._store.read(lambda state: stored_document(state, view.name, key))
        return view.from_json(found) if found is not None else None

    def seen(self, message_id: str) -> bool:
        return self._store.read(lambda state: message_id in state.inbox)

    def saga(self, saga_id: str) -> SagaRecord | None:
        return self._store.read(lambda state: state.sagas.sagas.get(saga_id))

    def write(self, changes: Sequence[Staged], records: Sequence[OutboxRecord],
              documents: Sequence[tuple[View[Any], Any]], inbox_ids: Sequence[str], *,
              sagas: SagaChanges | None = None) -> list[int]:
        # Encoded before taking the writer lock: the codecs and views are the caller's code, and
        # their cost need not hold up other committers.
        entries = [document_entry(view, document) for view, document in documents]
        states = [staged.codec.to_state(staged.aggregate) if self._keeps_state(staged) else None for staged in changes]
        seqs: list[int] = []

        def build(state: FileState) -> dict[str, Any] | None:
            _check(state, changes, inbox_ids)
            state.sagas.check(sagas)
            # The writer holds the lock and its index is current, so the next seqs are free.
            seqs[:] = range(state.outbox_seq + 1, state.outbox_seq + 1 + len(records))
            record: dict[str, Any] = {}
            if changes:
                record["aggregates"] = [
                    {"type": staged.codec.name, "id": staged.aggregate.id, "version": staged.aggregate.version,
                     "key": staged.aggregate.idempotency_key, "state": aggregate_state}
                    for staged, aggregate_state in zip(changes, states, strict=True)]
            if state.mode == "events":
                events: list[DomainEvent] = [e for staged in changes for e in staged.aggregate.pending_events]
                if events:
                    record["events"] = numbered(state, events)
            if records:
                record["outbox"] = [dataclasses.replace(r, seq=seq).to_json()
                                    for r, seq in zip(records, seqs, strict=True)]
                record["outbox_seq"] = seqs[-1]
                record["position"] = seqs[-1]
            if entries:
                record["documents"] = entries
            if inbox_ids:
                record["inbox"] = list(inbox_ids)
            if sagas:
                record.update(_saga_entries(state, sagas))
            return record or None

        self._store.write(build)
        return seqs

    def _keeps_state(self, staged: Staged) -> bool:
        """Whether this save stores the aggregate's state: always in state mode; in events mode
        when a snapshot is due."""
        if self._store.mode != "events":
            return True
        return snapshot_due(staged.expected_version, staged.aggregate.version, self._snapshot_every)


def _check(state: FileState, changes: Sequence[Staged], inbox_ids: Sequence[str]) -> None:
    """Refuse the unit of work if a staged aggregate is stale or its idempotency key is taken
    (ConcurrencyConflict), or if a message id was seen (AlreadyProcessed)."""
    for staged in changes:
        aggregate, name = staged.aggregate, staged.codec.name
        version = state.versions.get((name, aggregate.id), 0)
        key = aggregate.idempotency_key
        taken = staged.expected_version == 0 and key is not None and (name, key) in state.keys
        if taken or version != staged.expected_version:
            raise ConcurrencyConflict(aggregate.id, staged.expected_version, version)
        if state.mode == "events":
            check_append(aggregate.id, state.stream_version(aggregate.id), aggregate.pending_events,
                         staged.expected_version)
    for message_id in inbox_ids:
        if message_id in state.inbox:
            raise AlreadyProcessed(message_id)


def _saga_entries(state: FileState, sagas: SagaChanges) -> dict[str, Any]:
    """A unit's saga changes as journal fields (see state.py); history rows numbered on from the
    index, which is current while the writer holds the lock."""
    entries: dict[str, Any] = {}
    if sagas.saves:
        entries["sagas"] = [record_to_json(saga) for saga, _ in sagas.saves]
    if sagas.history:
        entries["saga_history"] = [{"saga_id": row.saga_id, "seq": row.seq, "entry": row.entry}
                                   for row in state.sagas.numbered(sagas.history)]
    if sagas.cancelled:
        entries["timers_cancelled"] = [list(key) for key in sagas.cancelled]
    if sagas.timers:
        entries["timers"] = [timer_to_json(timer) for timer in sagas.timers]
    return entries
