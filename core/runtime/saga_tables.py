"""Sagas, their timelines and their timers as plain dictionaries, with the checks and effects of
a unit of work's SagaChanges: the memory store keeps them so, and the file store's index too (it
journals the same changes and applies them here on replay). One implementation of the SagaStore
and TimerStore contracts for both, as relay.claimable is one of the outbox's claim.

Nothing here locks: callers hold their store's lock around every call.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from core.kernel.errors import ConcurrencyConflict
from ports.sagas import HistoryRow, SagaChanges, SagaRecord, Timer

TimerKey = tuple[str, str, int]


def timer_key(timer: Timer) -> TimerKey:
    return (timer.saga_id, timer.step, timer.generation)


def _order(timer: Timer) -> tuple[datetime, str, str, int]:
    return (timer.due_at, timer.saga_id, timer.step, timer.generation)


class SagaTables:
    """Committed sagas, history rows and timers, with the checks and effects of a unit's SagaChanges."""

    def __init__(self) -> None:
        self.sagas: dict[str, SagaRecord] = {}
        self.history: dict[str, list[HistoryRow]] = {}
        self.timers: dict[TimerKey, Timer] = {}
        # timer -> until when its last claim hides it from other claimers
        self.claims: dict[TimerKey, datetime] = {}

    def check(self, changes: SagaChanges | None) -> None:
        """ConcurrencyConflict if a save expects a version the saga no longer has."""
        for record, expected in changes.saves if changes else ():
            stored = self.sagas.get(record.saga_id)
            version = stored.version if stored is not None else 0
            if version != expected:
                raise ConcurrencyConflict(record.saga_id, expected, version)

    def numbered(self, history: Iterable[tuple[str, dict[str, Any]]]) -> list[HistoryRow]:
        """History entries as the rows they become: numbered on from each saga's last seq."""
        next_seq: dict[str, int] = {}
        rows = []
        for saga_id, entry in history:
            seq = next_seq.get(saga_id) or len(self.history.get(saga_id, ())) + 1
            rows.append(HistoryRow(saga_id=saga_id, seq=seq, entry=entry))
            next_seq[saga_id] = seq + 1
        return rows

    def save(self, record: SagaRecord) -> None:
        self.sagas[record.saga_id] = record

    def append(self, row: HistoryRow) -> None:
        rows = self.history.setdefault(row.saga_id, [])
        if row.seq != len(rows) + 1:
            raise ValueError(f"history row {row.seq} of saga {row.saga_id!r} does not follow row {len(rows)}")
        rows.append(row)

    def schedule(self, timer: Timer, claimed_until: datetime | None = None) -> None:
        key = timer_key(timer)
        self.timers[key] = timer
        if claimed_until is None:
            self.claims.pop(key, None)
        else:
            self.claims[key] = claimed_until

    def cancel(self, key: TimerKey) -> None:
        self.timers.pop(key, None)
        self.claims.pop(key, None)

    def apply(self, changes: SagaChanges | None) -> None:
        """Apply a checked unit's changes (see `check`)."""
        if not changes:
            return
        for record, _ in changes.saves:
            self.save(record)
        for row in self.numbered(changes.history):
            self.append(row)
        for key in changes.cancelled:
            self.cancel(key)
        for timer in changes.timers:
            self.schedule(timer)

    def due(self, now: datetime, limit: int) -> list[Timer]:
        """Timers due at `now` that no running lease hides, oldest due first."""
        free = [t for key, t in self.timers.items()
                if t.due_at <= now and (key not in self.claims or self.claims[key] <= now)]
        return sorted(free, key=_order)[:max(limit, 0)]

    def claim_due(self, now: datetime, limit: int, lease_seconds: float) -> list[Timer]:
        timers = self.due(now, limit)
        until = now + timedelta(seconds=lease_seconds)
        for timer in timers:
            self.claims[timer_key(timer)] = until
        return timers

    def pending(self, saga_id: str) -> list[Timer]:
        return sorted((t for t in self.timers.values() if t.saga_id == saga_id), key=_order)

    def next_due(self) -> datetime | None:
        return min((t.due_at for t in self.timers.values()), default=None)

    def list(self, state: str | None, after: str | None, limit: int) -> list[SagaRecord]:
        records = [r for r in self.sagas.values() if state is None or r.state == state]
        if after is not None:
            last = self.sagas.get(after)
            if last is None:
                return []
            records = [r for r in records if (r.started_at, r.saga_id) < (last.started_at, last.saga_id)]
        records.sort(key=lambda r: (r.started_at, r.saga_id), reverse=True)
        return records[:max(limit, 0)]

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for record in self.sagas.values():
            counts[record.state] = counts.get(record.state, 0) + 1
        return counts

