"""The SagaStore and TimerStore ports over a FileStore: reads from its index; a timer claim is
one journal line, so a lease holds for every process on the directory."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from adapters.outbound.file.state import FileState
from adapters.outbound.file.store import FileStore
from ports.sagas import HistoryRow, SagaRecord, Timer


class FileSagaStore:
    """The SagaStore port over a FileStore."""

    def __init__(self, store: FileStore) -> None:
        self._store = store

    def get(self, saga_id: str) -> SagaRecord | None:
        return self._store.read(lambda state: state.sagas.sagas.get(saga_id))

    def list(self, state: str | None = None, after: str | None = None, limit: int = 100) -> list[SagaRecord]:
        return self._store.read(lambda index: index.sagas.list(state, after, limit))

    def history(self, saga_id: str) -> list[HistoryRow]:
        return self._store.read(lambda state: list(state.sagas.history.get(saga_id, ())))

    def counts(self) -> dict[str, int]:
        return self._store.read(lambda state: state.sagas.counts())


class FileTimerStore:
    """The TimerStore port over a FileStore (one timer worker per directory, like the relay)."""

    def __init__(self, store: FileStore) -> None:
        self._store = store

    def claim_due(self, now: datetime, limit: int, lease_seconds: float) -> list[Timer]:
        claimed: list[Timer] = []
        until = now + timedelta(seconds=lease_seconds)

        def build(state: FileState) -> dict[str, Any] | None:
            claimed[:] = state.sagas.due(now, limit)
            if not claimed:
                return None
            return {"timers_claimed": {"until": until.isoformat(),
                                       "timers": [[t.saga_id, t.step, t.generation] for t in claimed]}}

        self._store.write(build)
        return list(claimed)

    def pending(self, saga_id: str) -> list[Timer]:
        return self._store.read(lambda state: state.sagas.pending(saga_id))

    def next_due(self) -> datetime | None:
        return self._store.read(lambda state: state.sagas.next_due())
