"""The commit queue's hand-offs, over a store that records what it was asked to write: a caller
alone writes at once, callers that arrive during a write share the next transaction, a failed
transaction fails every caller of its batch and no other."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest

from core.runtime import commit_queue
from core.runtime.commit_queue import CommitQueue, Outcome, PendingWrite

PATIENCE_S = 20


class RecordingStore:
    """Writes nothing; hands out seqs, records each transaction's size, holds the first one until
    `release` is set, refuses a unit whose message id is `refuse` and fails a whole transaction
    holding one whose message id is `fail`."""

    def __init__(self) -> None:
        self.transactions: list[int] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self._seq = 0

    def write(self, changes: Any, records: Sequence[Any], documents: Any, inbox_ids: Sequence[str], *,
              sagas: Any = None) -> list[int]:
        return self.write_batch([PendingWrite(changes, records, documents, inbox_ids, sagas)])[0]  # type: ignore[return-value]

    def write_batch(self, writes: Sequence[PendingWrite]) -> list[Outcome]:
        if not self.transactions:
            self.entered.set()
            assert self.release.wait(PATIENCE_S)
        self.transactions.append(len(writes))
        if any("fail" in write.inbox_ids for write in writes):
            raise OSError("disk full")
        outcomes: list[Outcome] = []
        for write in writes:
            if "refuse" in write.inbox_ids:
                outcomes.append(ValueError(write.inbox_ids[0]))
                continue
            self._seq += len(write.records)
            outcomes.append(list(range(self._seq - len(write.records) + 1, self._seq + 1)))
        return outcomes


def write(queue: CommitQueue, *inbox: str, records: int = 1) -> list[int]:
    return queue.write([], [object()] * records, [], list(inbox))  # type: ignore[list-item]


def run_behind_a_held_write(queue: CommitQueue, store: RecordingStore,
                            callers: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    """A first caller's write is held until every one of `callers` has queued behind it."""
    outcomes: dict[str, Any] = {}

    def run(name: str, inbox: tuple[str, ...]) -> None:
        try:
            outcomes[name] = write(queue, name, *inbox)
        except Exception as exc:  # the outcome under test
            outcomes[name] = exc

    first = threading.Thread(target=run, args=("first", ()), daemon=True)
    first.start()
    assert store.entered.wait(PATIENCE_S)
    threads = [threading.Thread(target=run, args=item, daemon=True) for item in callers.items()]
    for thread in threads:
        thread.start()
    for _ in range(PATIENCE_S * 100):
        if queue.queued == len(callers):
            break
        store.release.wait(0.01)
    store.release.set()
    for thread in [first, *threads]:
        thread.join(PATIENCE_S)
    assert not first.is_alive() and not any(thread.is_alive() for thread in threads)
    return outcomes


def test_a_caller_alone_writes_at_once_in_a_transaction_of_its_own() -> None:
    store = RecordingStore()
    store.release.set()
    queue = CommitQueue(store)  # type: ignore[arg-type]
    assert write(queue, "m-1", records=2) == [1, 2]
    assert write(queue, "m-2") == [3]
    assert store.transactions == [1, 1] and queue.queued == 0


def test_callers_arriving_during_a_write_share_the_next_transaction_each_with_its_own_seqs() -> None:
    store = RecordingStore()
    queue = CommitQueue(store)  # type: ignore[arg-type]
    outcomes = run_behind_a_held_write(queue, store, {f"w{n}": () for n in range(5)})
    assert store.transactions == [1, 5]
    seqs = [outcomes[f"w{n}"] for n in range(5)]
    assert sorted(s[0] for s in seqs) == [2, 3, 4, 5, 6] and outcomes["first"] == [1]


def test_a_refused_unit_fails_only_its_caller() -> None:
    store = RecordingStore()
    queue = CommitQueue(store)  # type: ignore[arg-type]
    outcomes = run_behind_a_held_write(queue, store, {"a": (), "b": ("refuse",), "c": ()})
    assert isinstance(outcomes["b"], ValueError)
    assert all(isinstance(outcomes[name], list) for name in ("first", "a", "c"))


def test_batches_are_bounded_and_each_leader_hands_on_to_the_next_caller() -> None:
    store = RecordingStore()
    queue = CommitQueue(store, max_batch=3)  # type: ignore[arg-type]
    outcomes = run_behind_a_held_write(queue, store, {f"w{n}": () for n in range(7)})
    assert store.transactions == [1, 3, 3, 1]
    assert sorted(seqs[0] for seqs in outcomes.values()) == list(range(1, 9))


def test_a_failed_transaction_fails_every_caller_of_its_batch_and_the_queue_goes_on() -> None:
    store = RecordingStore()
    queue = CommitQueue(store)  # type: ignore[arg-type]
    outcomes = run_behind_a_held_write(queue, store, {"fail": (), "b": (), "c": ()})
    assert store.transactions == [1, 3]
    assert isinstance(outcomes["first"], list)
    assert all(isinstance(outcomes[name], OSError) for name in ("fail", "b", "c"))
    assert write(queue, "after") == [2]


def test_a_caller_interrupted_while_queued_is_not_written_and_passes_the_lead_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    interrupt = threading.Event()

    class InterruptedWait(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            assert interrupt.wait(PATIENCE_S)
            raise KeyboardInterrupt

    plain = commit_queue._Ticket  # the waiting this test interrupts

    def ticket(write: PendingWrite) -> Any:
        made = plain(write)
        if "interrupted" in write.inbox_ids:
            made.woken = InterruptedWait()
        return made

    store = RecordingStore()
    queue = CommitQueue(store)  # type: ignore[arg-type]
    monkeypatch.setattr(commit_queue, "_Ticket", ticket)
    outcomes: dict[str, Any] = {}

    def run(name: str) -> None:
        try:
            outcomes[name] = write(queue, name)
        except BaseException as exc:  # the outcome under test, KeyboardInterrupt included
            outcomes[name] = exc

    threads = {name: threading.Thread(target=run, args=(name,), daemon=True)
               for name in ("first", "interrupted", "after")}
    threads["first"].start()
    assert store.entered.wait(PATIENCE_S)
    threads["interrupted"].start()
    for _ in range(PATIENCE_S * 100):
        if queue.queued == 1:
            break
        interrupt.wait(0.01)
    threads["after"].start()
    for _ in range(PATIENCE_S * 100):
        if queue.queued == 2:
            break
        interrupt.wait(0.01)
    store.release.set()
    threads["first"].join(PATIENCE_S)  # its hand-off gave the lead to the interrupted caller
    interrupt.set()
    for thread in threads.values():
        thread.join(PATIENCE_S)
    assert not any(thread.is_alive() for thread in threads.values())
    assert isinstance(outcomes["interrupted"], KeyboardInterrupt)
    assert outcomes["first"] == [1] and outcomes["after"] == [2]
    assert store.transactions == [1, 1] and queue.queued == 0
