"""The Storage port in this process's memory: fast, and gone when the process ends."""

from __future__ import annotations

import json
from typing import Any

from adapters.outbound.memory.store import (
    MemoryCommitter,
    MemoryEventStore,
    MemoryOutbox,
    MemoryReadModel,
    MemorySagaStore,
    MemoryStore,
    MemoryTimerStore,
)
from core.kernel.aggregate import AggregateCodec
from core.kernel.messages import DomainEvent, event_from_dict, is_event_type


class MemoryStorage:
    def __init__(self, mode: str = "state", snapshot_every: int = 50) -> None:
        self.mode = mode
        self._store = MemoryStore(mode, snapshot_every)
        self.committer = MemoryCommitter(self._store)
        self.read_model = MemoryReadModel(self._store)
        self.outbox = MemoryOutbox(self._store)
        self.event_store = MemoryEventStore(self._store)
        self.sagas = MemorySagaStore(self._store)
        self.timers = MemoryTimerStore(self._store)

    def aggregate_ids(self, codec: AggregateCodec[Any]) -> list[str]:
        with self._store.lock:
            return sorted(aggregate_id for name, aggregate_id in self._store.versions if name == codec.name)

    def history(self, aggregate_id: str) -> list[DomainEvent]:
        if self.mode == "events":
            return self.event_store.read_stream(aggregate_id)
        # Rows may carry commands sent with the aggregate's id: only its events are its history.
        return [event_from_dict(json.loads(r.payload)) for r in self.outbox.history(aggregate_id)
                if is_event_type(r.type)]

    def close(self) -> None:
        """Nothing to release; the data stays for when this store is switched back to."""

    def check(self) -> None:
        """Memory always answers."""

    def describe(self) -> str:
        return "memory (this process only)"
