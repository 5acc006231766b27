"""Indexes for the stores that keep their data in Python (memory, file): the outbox's unpublished
rows in seq order, and a view's documents in list order for each way of filtering them.

Without them, every relay claim sorted every retained outbox row (5-11 ms at 100k rows, every
round) and every list sorted every document of its view (56-76 ms at 100k orders). With them a
claim costs its batch and a page costs its rows plus a binary search, at any size and depth.
Both stores apply every change through these classes under their own lock, so the indexes
are never out of step with the rows they index.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Collection, Iterator
from typing import Generic, TypeVar

from core.kernel.envelope import OutboxRecord

D = TypeVar("D")
Tags = tuple[str | None, ...]

# Seqs left behind by rows published out of seq order are dropped in one rebuild once there are
# this many more of them than live rows: each costs one skipped step in a claim until then.
_SLACK = 1024


class PendingRows:
    """The unpublished outbox rows (parked ones included), oldest seq first, and their count.

    Rows are published from the front, and new rows get higher seqs than any before, so both
    ends of the queue stay cheap; only a requeue (rows going back to unpublished) reorders it,
    by one sort on the next read.
    """

    def __init__(self) -> None:
        self._rows: dict[int, OutboxRecord] = {}
        # Ascending seqs; it may still hold seqs of rows that were published since (skipped).
        self._order: deque[int] = deque()
        self._ordered = True

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, seq: object) -> bool:
        return seq in self._rows

    def add(self, record: OutboxRecord) -> None:
        """Make `record` unpublished (or replace the unpublished row with its seq)."""
        seq = record.seq
        if seq not in self._rows:
            if self._order and seq <= self._order[-1]:
                self._ordered = False
            self._order.append(seq)
        self._rows[seq] = record

    def discard(self, seq: int) -> None:
        """The row was published (or deleted): it is no longer pending. Unknown seqs are ignored."""
        rows, order = self._rows, self._order
        if rows.pop(seq, None) is None:
            return
        while order and order[0] not in rows:
            order.popleft()
        if len(order) > 2 * len(rows) + _SLACK:
            self._rebuild()

    def in_order(self) -> Iterator[OutboxRecord]:
        """The pending rows in ascending seq. Do not add or discard while iterating."""
        if not self._ordered:
            self._rebuild()
        rows = self._rows
        for seq in self._order:
            record = rows.get(seq)
            if record is not None:
                yield record

    def claim(self, parked: Collection[int], limit: int, after: int = 0) -> list[OutboxRecord]:
        """What `Outbox.claim` hands out: pending rows with a seq above `after` in seq order,
        without the parked ones and without those after a parked row of their aggregate (as
        core.runtime.relay.claimable, reading only as far as the batch needs)."""
        claimed: list[OutboxRecord] = []
        if limit <= 0:
            return claimed
        rows = self._rows
        # A parked row at or below `after` still holds its aggregate's later rows: find each
        # aggregate's first parked seq up front (parked rows are few).
        first_parked: dict[str, int] = {}
        for seq in parked:
            parked_row = rows.get(seq)
            if parked_row is not None and seq < first_parked.get(parked_row.aggregate_id, seq + 1):
                first_parked[parked_row.aggregate_id] = seq
        for record in self.in_order():
            seq = record.seq
            if seq <= after:
                continue
            if first_parked:
                held_at = first_parked.get(record.aggregate_id)
                if held_at is not None and seq >= held_at:
                    continue
            claimed.append(record)
            if len(claimed) == limit:
                break
        return claimed

    def waiting(self, parked: Collection[int]) -> int:
        """How many pending rows are not parked (parked rows are few: the count is kept)."""
        return len(self._rows) - sum(1 for seq in parked if seq in self._rows)

    def oldest(self, parked: Collection[int]) -> OutboxRecord | None:
        """The pending row with the lowest seq that is not parked."""
        return next((record for record in self.in_order() if record.seq not in parked), None)

    def _rebuild(self) -> None:
        self._order = deque(sorted(self._rows))
        self._ordered = True


class ViewDocuments(Generic[D]):
    """One view's documents by key, and its list order for each way of filtering it.

    Lists run newest first by (sort, key), filtered on some of the view's tags (positions in
    `tags`). The first list that filters on a set of positions builds, for every combination of
    values at those positions, the ascending (sort, key) pairs of its documents; every later
    `put` keeps them current. A page is then a binary search for the cursor and a slice.
    """

    def __init__(self) -> None:
        self._by_key: dict[str, tuple[str, Tags, D]] = {}
        # filtered positions -> their values -> ascending (sort, key)
        self._lists: dict[tuple[int, ...], dict[Tags, list[tuple[str, str]]]] = {}

    def __len__(self) -> int:
        return len(self._by_key)

    def get(self, key: str) -> D | None:
        found = self._by_key.get(key)
        return found[2] if found is not None else None

    def entries(self) -> Iterator[tuple[str, str, Tags, D]]:
        """Every document as (key, sort, tags, document), in no particular order."""
        return ((key, sort, tags, document) for key, (sort, tags, document) in self._by_key.items())

    def put(self, key: str, sort: str, tags: Tags, document: D) -> None:
        old = self._by_key.get(key)
        self._by_key[key] = (sort, tags, document)
        if old is not None and old[0] == sort and old[1] == tags:
            return
        entry = (sort, key)
        for positions, lists in self._lists.items():
            values = _values(tags, positions)
            if old is not None:
                old_values = _values(old[1], positions)
                if old[0] == sort and old_values == values:
                    continue
                _remove(lists, old_values, (old[0], key))
            insort(lists.setdefault(values, []), entry)

    def page(self, where: Tags, after: tuple[str, str] | None, count: int) -> list[D]:
        """Up to `count` documents newest first whose tags equal every non-None value of
        `where`, starting just after the (sort, key) `after` (None: from the newest)."""
        positions = tuple(position for position, value in enumerate(where) if value is not None)
        lists = self._lists.get(positions)
        if lists is None:
            lists = self._lists[positions] = self._build(positions)
        rows = lists.get(_values(where, positions), [])
        end = bisect_left(rows, after) if after is not None else len(rows)
        by_key = self._by_key
        return [by_key[key][2] for _, key in reversed(rows[max(0, end - count):end])]

    def _build(self, positions: tuple[int, ...]) -> dict[Tags, list[tuple[str, str]]]:
        lists: dict[Tags, list[tuple[str, str]]] = {}
        for key, (sort, tags, _) in self._by_key.items():
            lists.setdefault(_values(tags, positions), []).append((sort, key))
        for rows in lists.values():
            rows.sort()
        return lists


def _values(tags: Tags, positions: tuple[int, ...]) -> Tags:
    return tuple(tags[position] for position in positions)


def _remove(lists: dict[Tags, list[tuple[str, str]]], values: Tags, entry: tuple[str, str]) -> None:
    rows = lists[values]
    index = bisect_left(rows, entry)
    del rows[index]
    if not rows:
        del lists[values]

