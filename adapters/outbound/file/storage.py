"""The Storage port in a directory of files (see store.py for the layout and its guarantees)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from adapters.outbound.file.committer import FileCommitter
from adapters.outbound.file.ports import FileEventStore, FileOutbox, FileReadModel
from adapters.outbound.file.sagas import FileSagaStore, FileTimerStore
from adapters.outbound.file.store import FileStore
from core.kernel.aggregate import AggregateCodec
from core.kernel.messages import DomainEvent, event_from_dict, is_event_type
from ports.system import EventFeed

DEFAULT_COMPACT_BYTES = 8 * 1024 * 1024
MODES = ("state", "events")


class FileStorage:
    """Any context's aggregates, outbox, views, inbox, event streams and sagas in one journal
    under `directory`.

    One process writes (it holds the directory's writer lock from its first write until
    `close()`); other processes may read at any time and see every committed transaction.
    `mode` is "state" (each commit stores the aggregates' states) or "events" (each commit
    appends their events, with a snapshot every `snapshot_every` events). The journal is
    compacted into a snapshot once it outgrows both `compact_bytes` and the last snapshot.
    """

    def __init__(
        self, directory: Path, *, feed: EventFeed, mode: str = "state", snapshot_every: int = 50,
        compact_bytes: int = DEFAULT_COMPACT_BYTES,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self._store = FileStore(directory, mode=mode, compact_bytes=compact_bytes, feed=feed)
        self.committer = FileCommitter(self._store, snapshot_every)
        self.read_model = FileReadModel(self._store)
        self.outbox = FileOutbox(self._store)
        self.event_store = FileEventStore(self._store)
        self.sagas = FileSagaStore(self._store)
        self.timers = FileTimerStore(self._store)

    def aggregate_ids(self, codec: AggregateCodec[Any]) -> list[str]:
        return self._store.read(lambda state: sorted(i for name, i in state.versions if name == codec.name))

    def history(self, aggregate_id: str) -> list[DomainEvent]:
        if self.mode == "events":
            return self.event_store.read_stream(aggregate_id)
        # The outbox also carries commands bound for other contexts: those are not this
        # aggregate's events.
        return [event_from_dict(json.loads(r.payload)) for r in self.outbox.history(aggregate_id)
                if is_event_type(r.type)]

    def close(self) -> None:
        """Give up the writer lock and the journal's file handle; the next call reopens them."""
        self._store.close()

    def describe(self) -> str:
        return f"files in {self._store.directory} (aggregates kept as {self.mode})"

    def check(self) -> None:
        self._store.check()
