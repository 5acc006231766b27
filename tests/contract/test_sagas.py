"""Contract of the saga ports (SagaWriter through the unit of work, SagaStore, TimerStore), on every
storage adapter and in both ways of keeping aggregates (the mode concerns aggregates only)."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import pytest

from core.kernel.envelope import OutboxRecord
from core.kernel.errors import AlreadyProcessed, ConcurrencyConflict
from ports.sagas import SagaRecord, Timer
from ports.storage import Storage
from tests.contract.conftest import open_storage
from tests.contract.orders_fixtures import at, new_id, new_order, orders, unit_of_work

PORT = "storage"


def record(saga_id: str | None = None, state: str = "running", started: int = 0, version: int = 0,
           **instance: Any) -> SagaRecord:
    saga_id = saga_id or new_id("saga")
    return SagaRecord(saga_id=saga_id, definition="place-order", state=state,
                      instance={"saga_id": saga_id, "steps": [{"name": "reserve", "attempt": 1}], **instance},
                      version=version, started_at=at(started), updated_at=at(started + 1), next_due=at(started + 30))


def save(storage: Storage, saga: SagaRecord, message_id: str | None = None) -> SagaRecord:
    """Save in a unit of its own and return what is stored."""
    with unit_of_work(storage) as uow:
        uow.message_id = message_id
        uow.sagas.save(saga)
        uow.commit()
    stored = storage.sagas.get(saga.saga_id)
    assert stored is not None
    return stored


def schedule(storage: Storage, *timers: Timer) -> None:
    with unit_of_work(storage) as uow:
        for timer in timers:
            uow.sagas.schedule(timer)
        uow.commit()


def command(saga_id: str) -> OutboxRecord:
    return OutboxRecord(event_id=new_id("cmd"), aggregate_id=saga_id, aggregate_version=1, type="inventory.Reserve",
                        payload='{"sku": "SKU-1"}', created_at=at(1), topic="orderhex.inventory.commands")


def test_a_saved_saga_reads_back_whole_and_each_save_moves_its_version_on(storage: Storage) -> None:
    saga = record(data={"order_id": "o-1", "note": "ünïcode ✓", "amount": "19.98"})
    stored = save(storage, saga)
    assert stored == dataclasses.replace(saga, version=1)
    again = save(storage, dataclasses.replace(stored, state="waiting", updated_at=at(5), next_due=None))
    assert (again.version, again.state, again.updated_at, again.next_due) == (2, "waiting", at(5), None)
    assert again.instance == saga.instance and again.started_at == at(0)


def test_a_unit_reads_its_own_staged_saga_and_leaving_without_commit_leaves_no_trace(storage: Storage) -> None:
    saga = record()
    uow = unit_of_work(storage)
    with uow:
        uow.sagas.save(saga)
        uow.sagas.record_history(saga.saga_id, [{"kind": "started"}])
        uow.sagas.schedule(Timer(saga.saga_id, "reserve", 1, at(30)))
        uow.send(command(saga.saga_id))
        staged = uow.sagas.get(saga.saga_id)
        assert staged is not None and staged.version == 1
        assert storage.sagas.get(saga.saga_id) is None
    assert storage.sagas.get(saga.saga_id) is None and storage.sagas.history(saga.saga_id) == []
    assert storage.timers.pending(saga.saga_id) == [] and storage.outbox.pending_count() == 0
    with uow:  # a unit entered again starts empty
        assert uow.sagas.get(saga.saga_id) is None
        uow.commit()
    assert storage.sagas.counts() == {}


def test_saving_twice_in_one_unit_moves_the_version_once(storage: Storage) -> None:
    saga = record()
    with unit_of_work(storage) as uow:
        uow.sagas.save(saga)
        first = uow.sagas.get(saga.saga_id)
        assert first is not None
        uow.sagas.save(dataclasses.replace(first, state="waiting"))
        uow.commit()
    stored = storage.sagas.get(saga.saga_id)
    assert stored is not None and (stored.version, stored.state) == (1, "waiting")


def test_a_stale_save_raises_conflict_and_the_saga_keeps_the_winner(storage: Storage) -> None:
    stored = save(storage, record())
    save(storage, dataclasses.replace(stored, state="waiting"))
    with pytest.raises(ConcurrencyConflict) as raised, unit_of_work(storage) as uow:
        uow.sagas.save(dataclasses.replace(stored, state="compensating"))
        uow.commit()
    assert stored.saga_id in str(raised.value) and "expected version 1" in str(raised.value)
    with pytest.raises(ConcurrencyConflict), unit_of_work(storage) as uow:
        uow.sagas.save(record(stored.saga_id))  # new (version 0), but it exists
        uow.commit()
    after = storage.sagas.get(stored.saga_id)
    assert after is not None and (after.version, after.state) == (2, "waiting")


def test_two_units_racing_on_one_saga_from_two_threads_commit_exactly_once(storage: Storage) -> None:
    saga = save(storage, record())
    for _round in range(5):
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def act(label: str, barrier: threading.Barrier = barrier, outcomes: list[str] = outcomes) -> None:
            with unit_of_work(storage) as uow:
                current = uow.sagas.get(saga.saga_id)
                assert current is not None
                uow.sagas.save(dataclasses.replace(current, state=label))
                uow.sagas.record_history(saga.saga_id, [{"by": label}])
                uow.send(command(saga.saga_id))
                barrier.wait(timeout=10)  # both have read the same version before either commits
                try:
                    uow.commit()
                    outcomes.append(label)
                except ConcurrencyConflict:
                    outcomes.append("conflict")

        threads = [threading.Thread(target=act, args=(label,)) for label in ("a", "b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(outcomes)[0] in ("a", "b") and sorted(outcomes)[1] == "conflict", outcomes
    final = storage.sagas.get(saga.saga_id)
    assert final is not None and final.version == 6
    assert [row.seq for row in storage.sagas.history(saga.saga_id)] == [1, 2, 3, 4, 5]
    assert storage.outbox.pending_count() == 5  # the losers sent nothing


def test_a_unit_whose_saga_save_conflicts_stores_nothing_at_all(storage: Storage) -> None:
    stored = save(storage, record())
    save(storage, stored)  # now at version 2
    order = new_order()
    with pytest.raises(ConcurrencyConflict), unit_of_work(storage) as uow:
        uow.message_id = "reply-1"
        orders(uow).add(order)
        uow.sagas.save(stored)
        uow.sagas.record_history(stored.saga_id, [{"kind": "reply"}])
        uow.sagas.schedule(Timer(stored.saga_id, "pay", 1, at(10)))
        uow.send(command(stored.saga_id))
        uow.commit()
    with unit_of_work(storage) as uow:
        assert orders(uow).get(order.id) is None
    assert storage.outbox.pending_count() == 0 and storage.sagas.history(stored.saga_id) == []
    assert storage.timers.pending(stored.saga_id) == [] and storage.timers.next_due() is None
    assert not unit_of_work(storage).inbox.contains("reply-1")


def test_a_unit_that_only_moves_a_saga_commits_with_its_inbox_id(storage: Storage) -> None:
    stored = save(storage, record())
    with unit_of_work(storage) as uow:
        uow.message_id = "reply-7"
        uow.sagas.save(dataclasses.replace(stored, state="completed"))
        uow.commit()
    assert uow.committed and uow.inbox.contains("reply-7")
    with pytest.raises(AlreadyProcessed), unit_of_work(storage) as uow:
        uow.message_id = "reply-7"
        uow.sagas.record_history(stored.saga_id, [{"kind": "duplicate"}])
        uow.commit()
    assert storage.sagas.history(stored.saga_id) == []
    with unit_of_work(storage) as uow:  # a fired timer: only its inbox id and a cancel
        uow.message_id = "timer:x"
        uow.sagas.cancel(stored.saga_id, "reserve", 1)
        uow.commit()
    assert uow.inbox.contains("timer:x")


def test_history_is_numbered_per_saga_in_the_order_given(storage: Storage) -> None:
    one, two = record(), record()
    with unit_of_work(storage) as uow:
        uow.sagas.record_history(one.saga_id, [{"n": 1}, {"n": 2}])
        uow.sagas.record_history(two.saga_id, [{"n": 1}])
        uow.sagas.record_history(one.saga_id, [{"n": 3}])
        uow.commit()
    with unit_of_work(storage) as uow:
        uow.sagas.record_history(two.saga_id, [{"n": 2, "text": "ünïcode ✓", "nested": {"ids": ["m-1"]}}])
        uow.sagas.record_history(one.saga_id, [{"n": 4}])
        uow.commit()
    assert [(r.seq, r.entry["n"]) for r in storage.sagas.history(one.saga_id)] == [(1, 1), (2, 2), (3, 3), (4, 4)]
    rows = storage.sagas.history(two.saga_id)
    assert [(r.saga_id, r.seq) for r in rows] == [(two.saga_id, 1), (two.saga_id, 2)]
    assert rows[1].entry == {"n": 2, "text": "ünïcode ✓", "nested": {"ids": ["m-1"]}}
    assert storage.sagas.history("no-such-saga") == []


def test_sagas_list_newest_first_by_state_in_pages_and_count_by_state(storage: Storage) -> None:
    states = ["running", "completed", "running", "compensated", "running", "running", "completed"]
    saved = [save(storage, record(f"s-{i}", state=state, started=i)) for i, state in enumerate(states)]
    everything = storage.sagas.list()
    assert [s.saga_id for s in everything] == [s.saga_id for s in reversed(saved)]
    pages, after = [], None
    while True:
        page = storage.sagas.list(state="running", after=after, limit=2)
        if not page:
            break
        pages.append([s.saga_id for s in page])
        after = page[-1].saga_id
    assert pages == [["s-5", "s-4"], ["s-2", "s-0"]]
    assert storage.sagas.list(state="stuck") == [] and storage.sagas.list(after="unknown") == []
    assert storage.sagas.counts() == {"running": 4, "completed": 2, "compensated": 1}
    save(storage, dataclasses.replace(saved[0], state="completed"))
    assert storage.sagas.counts() == {"running": 3, "completed": 3, "compensated": 1}


def test_sagas_started_at_the_same_time_page_by_id(storage: Storage) -> None:
    for name in ("b", "a", "c"):
        save(storage, record(f"same-{name}", started=7))
    first = storage.sagas.list(limit=2)
    assert [s.saga_id for s in first] == ["same-c", "same-b"]
    assert [s.saga_id for s in storage.sagas.list(after=first[-1].saga_id)] == ["same-a"]


def test_timers_are_scheduled_once_per_name_and_cancelled(storage: Storage) -> None:
    saga = record()
    reserve, pay = Timer(saga.saga_id, "reserve", 1, at(30)), Timer(saga.saga_id, "pay", 1, at(20))
    schedule(storage, reserve, pay, dataclasses.replace(reserve, due_at=at(40)))
    assert storage.timers.pending(saga.saga_id) == [pay, dataclasses.replace(reserve, due_at=at(40))]
    assert storage.timers.next_due() == at(20)
    with unit_of_work(storage) as uow:
        uow.sagas.cancel(saga.saga_id, "pay", 1)
        uow.sagas.cancel(saga.saga_id, "pay", 2)  # never scheduled: no error
        uow.commit()
    assert storage.timers.pending(saga.saga_id) == [dataclasses.replace(reserve, due_at=at(40))]
    with unit_of_work(storage) as uow:  # the last call for one timer in a unit wins
        uow.sagas.schedule(Timer(saga.saga_id, "ship", 3, at(50)))
        uow.sagas.cancel(saga.saga_id, "ship", 3)
        uow.sagas.cancel(saga.saga_id, "ship", 4)
        uow.sagas.schedule(Timer(saga.saga_id, "ship", 4, at(60)))
        uow.commit()
    assert [(t.step, t.generation) for t in storage.timers.pending(saga.saga_id)] == [("reserve", 1), ("ship", 4)]


def test_claims_hand_out_due_timers_oldest_first_and_hide_them_for_the_lease(storage: Storage) -> None:
    timers = [Timer(f"t-{i}", "reserve", 1, at(10 * i)) for i in (3, 1, 2, 5)]
    schedule(storage, *timers)
    assert storage.timers.claim_due(at(5), 10, 60) == []
    claimed = storage.timers.claim_due(at(30), 2, 60)
    assert [t.saga_id for t in claimed] == ["t-1", "t-2"] and claimed[0].due_at == at(10)
    assert [t.saga_id for t in storage.timers.claim_due(at(30), 10, 60)] == ["t-3"]
    assert storage.timers.claim_due(at(49), 10, 60) == []  # every due timer is under a lease
    assert [t.saga_id for t in storage.timers.claim_due(at(90), 10, 60)] == ["t-1", "t-2", "t-3", "t-5"]
    # Claimed timers stay until a unit cancels them, and still count for next_due.
    assert storage.timers.next_due() == at(10) and len(storage.timers.pending("t-1")) == 1
    with unit_of_work(storage) as uow:
        uow.sagas.cancel("t-1", "reserve", 1)
        uow.commit()
    schedule(storage, Timer("t-2", "reserve", 1, at(100)))  # rescheduled: a new due time, its claim gone
    assert storage.timers.claim_due(at(120), 10, 60) == [Timer("t-2", "reserve", 1, at(100))]
    assert storage.timers.next_due() == at(30)


def test_two_workers_claim_disjoint_timers(storage: Storage) -> None:
    schedule(storage, *[Timer(f"w-{i:03d}", "pay", 1, at(i)) for i in range(60)])
    barrier = threading.Barrier(2)
    claims: list[list[Timer]] = [[], []]

    def work(worker: int) -> None:
        barrier.wait(timeout=10)
        for _ in range(20):
            claims[worker].extend(storage.timers.claim_due(at(100), 4, 300))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    names = [t.saga_id for claim in claims for t in claim]
    assert sorted(names) == [f"w-{i:03d}" for i in range(60)]  # each timer claimed exactly once


def test_reopening_the_store_keeps_sagas_history_timers_and_claims(
    request: pytest.FixtureRequest, storage: Storage, storage_adapter: str, orders_mode: str, tmp_path: Path
) -> None:
    if storage_adapter == "memory":
        pytest.skip("a memory store lives as long as its process")
    saga = save(storage, record(data={"order_id": "o-9"}), message_id="m-1")
    with unit_of_work(storage) as uow:
        uow.sagas.save(dataclasses.replace(saga, state="waiting"))
        uow.sagas.record_history(saga.saga_id, [{"n": 1}, {"n": 2}])
        uow.sagas.schedule(Timer(saga.saga_id, "reserve", 1, at(30)))
        uow.sagas.schedule(Timer(saga.saga_id, "pay", 1, at(40)))
        uow.commit()
    assert [t.step for t in storage.timers.claim_due(at(35), 10, 60)] == ["reserve"]
    storage.close()
    reopened = open_storage(request, storage_adapter, tmp_path, orders_mode)
    try:
        again = reopened.sagas.get(saga.saga_id)
        assert again is not None and (again.version, again.state, again.instance) == (2, "waiting", saga.instance)
        assert [r.entry for r in reopened.sagas.history(saga.saga_id)] == [{"n": 1}, {"n": 2}]
        assert reopened.sagas.counts() == {"waiting": 1}
        assert [t.step for t in reopened.timers.pending(saga.saga_id)] == ["reserve", "pay"]
        assert reopened.timers.claim_due(at(45), 10, 60) == [Timer(saga.saga_id, "pay", 1, at(40))]
        assert [t.step for t in reopened.timers.claim_due(at(95), 10, 60)] == ["reserve"]  # pay: leased to 105
        with pytest.raises(AlreadyProcessed), unit_of_work(reopened) as uow:
            uow.message_id = "m-1"
            uow.commit()
        with unit_of_work(reopened) as uow:  # the history goes on where it was
            uow.sagas.record_history(saga.saga_id, [{"n": 3}])
            uow.commit()
        assert [r.seq for r in reopened.sagas.history(saga.saga_id)] == [1, 2, 3]
    finally:
        reopened.close()


def test_a_file_store_keeps_sagas_in_its_snapshots(tmp_path: Path) -> None:
    from adapters.outbound.file.storage import FileStorage
    from adapters.outbound.memory.feed import RingBufferFeed

    def open_files() -> FileStorage:  # compacts into a snapshot after every write
        return FileStorage(tmp_path, feed=RingBufferFeed(10), compact_bytes=1)

    storage = open_files()
    saga = save(storage, record(data={"order_id": "o-1"}))
    with unit_of_work(storage) as uow:
        uow.sagas.record_history(saga.saga_id, [{"n": 1}, {"n": 2}])
        uow.sagas.schedule(Timer(saga.saga_id, "reserve", 1, at(30)))
        uow.sagas.schedule(Timer(saga.saga_id, "pay", 1, at(40)))
        uow.commit()
    assert len(storage.timers.claim_due(at(30), 10, 60)) == 1
    storage.close()
    assert (tmp_path / "snapshot.json").exists()
    reopened = open_files()
    try:
        assert reopened.sagas.get(saga.saga_id) == saga
        assert [r.seq for r in reopened.sagas.history(saga.saga_id)] == [1, 2]
        assert reopened.timers.claim_due(at(50), 10, 60) == [Timer(saga.saga_id, "pay", 1, at(40))]  # reserve: leased
    finally:
        reopened.close()


@pytest.mark.parametrize("entry", [
    {"sagas": [{"saga_id": "s-1", "state": "running"}]},                       # fields missing
    {"saga_history": [{"saga_id": "s-1", "seq": 2, "entry": {}}]},              # seq 1 missing
    {"timers_claimed": {"until": "2026-01-01T00:00:00+00:00", "timers": [["s-1", "pay", 1]]}},  # no such timer
    {"saga_outcome": "completed"},                                               # a field this format lacks
])
def test_a_file_store_refuses_a_damaged_saga_entry_naming_its_file(tmp_path: Path, entry: dict[str, Any]) -> None:
    from adapters.outbound.file import journal
    from adapters.outbound.file.storage import FileStorage
    from adapters.outbound.memory.feed import RingBufferFeed
    from core.kernel.errors import Unavailable

    storage = FileStorage(tmp_path, feed=RingBufferFeed(10))
    save(storage, record("s-0"))
    storage.close()
    with (tmp_path / journal.JOURNAL).open("ab") as handle:
        handle.write(journal.encode({"txn": 2, **entry}))
    with pytest.raises(Unavailable) as raised:
        FileStorage(tmp_path, feed=RingBufferFeed(10)).sagas.get("s-0")
    assert str(tmp_path / journal.JOURNAL) in str(raised.value)
