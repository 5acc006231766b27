from __future__ import annotations

from adapters.outbound.memory.store import (
    MemoryEventStore,
    MemoryOutbox,
    MemoryReadModel,
    MemoryStore,
    MemoryUnitOfWork,
)


class MemoryStorage:
    """The Storage port in this process's memory: fast, and gone when the process ends."""

    def __init__(self, orders_mode: str = "state", snapshot_every: int = 50) -> None:
        self._event_sourced = orders_mode == "events"
        self._snapshot_every = snapshot_every
        self._store = MemoryStore()
        self.read_model = MemoryReadModel(self._store)
        self.outbox = MemoryOutbox(self._store)
        self.event_store = MemoryEventStore(self._store)

    def unit_of_work(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self._store, self._event_sourced, self._snapshot_every)

    def order_ids(self) -> list[str]:
        with self._store.lock:
            return sorted(self._store.streams if self._event_sourced else self._store.orders)

    def close(self) -> None:
        """Nothing to release; the data stays for when this store is switched back to."""

    def check(self) -> None:
        """Memory always answers."""

    def describe(self) -> str:
        return "memory (this process only)"
