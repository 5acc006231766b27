"""The Storage port in a directory of files (see store.py for the layout and its guarantees)."""

from __future__ import annotations

from pathlib import Path

from adapters.outbound.file.ports import FileEventStore, FileOutbox, FileReadModel
from adapters.outbound.file.store import FileStore
from adapters.outbound.file.unit_of_work import FileUnitOfWork
from ports.system import EventFeed

DEFAULT_COMPACT_BYTES = 8 * 1024 * 1024


class FileStorage:
    """Orders, outbox, read model, inbox and event streams in one journal under `directory`.

    One process writes (it holds the directory's writer lock from its first write until
    `close()`); other processes may read at any time and see every committed transaction.
    `orders` is "state" (each commit stores the order's state) or "events" (each commit appends
    the order's events, with a snapshot every `snapshot_every` events).
    """

    def __init__(
        self, directory: Path, *, feed: EventFeed, orders: str = "state", snapshot_every: int = 50,
        compact_bytes: int = DEFAULT_COMPACT_BYTES,
    ) -> None:
        self._store = FileStore(directory, mode=orders, compact_bytes=compact_bytes, feed=feed)
        self._snapshot_every = snapshot_every
        self.read_model = FileReadModel(self._store)
        self.outbox = FileOutbox(self._store)
        self.event_store = FileEventStore(self._store)

    def unit_of_work(self) -> FileUnitOfWork:
        return FileUnitOfWork(self._store, self._snapshot_every)

    def order_ids(self) -> list[str]:
        return self._store.read(lambda state: sorted(state.orders if state.mode == "state" else state.streams))

    def close(self) -> None:
        """Give up the writer lock and the journal's file handle; the next call reopens them."""
        self._store.close()

    def describe(self) -> str:
        return f"files in {self._store.directory} (orders kept as {self._store.mode})"

    def check(self) -> None:
        self._store.check()
