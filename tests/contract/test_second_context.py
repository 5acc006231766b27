"""A second bounded context runs on every store with no edit to the kernel, runtime, ports or stores.

The counters context (tests/counters) is registered only through its descriptor; these tests
drive it through the runtime's Service: the bus, a unit of work with outbox and inbox, its
view, its history, a rebuild and group commit.
"""

from __future__ import annotations

import json

import pytest

from adapters.outbound.memory.determinism import SequentialIds, SteppingClock
from adapters.outbound.memory.feed import RingBufferFeed
from core.kernel.errors import AlreadyProcessed
from core.kernel.messages import event_from_dict
from core.runtime.service import Service
from ports.storage import Storage
from tests.counters.context import CONTEXT, COUNTER, SEEN, TOTALS, Increment, Incremented

PORT = "storage"
TOPIC = "orderhex.counters.events"


def _service(storage: Storage) -> Service:
    return Service(CONTEXT, storage=storage, feed=RingBufferFeed(100), clock=SteppingClock(),
                   ids=SequentialIds("n"), events_topic=TOPIC)


def test_commands_run_through_the_bus_into_the_store_its_outbox_and_its_view(storage: Storage) -> None:
    service = _service(storage)
    assert service.send(Increment(counter_id="a", by=2)) == 2
    assert service.send(Increment(counter_id="a", by=3)) == 5
    assert service.send(Increment(counter_id="b")) == 1

    rows = storage.outbox.claim(10)
    assert [(r.type, r.topic, r.aggregate_id) for r in rows] == [("counters.Incremented", TOPIC, c) for c in "aab"]
    assert event_from_dict(json.loads(rows[1].payload)) == Incremented(
        event_id=rows[1].event_id, aggregate_id="a", aggregate_version=2, occurred_at=rows[1].created_at, by=3)
    assert storage.read_model.get(TOTALS, "a").value == 5
    odd = storage.read_model.list(TOTALS, TOTALS.where(parity="odd"), None, 10).items
    assert sorted(t.counter_id for t in odd) == ["a", "b"]
    assert sorted(storage.aggregate_ids(COUNTER)) == ["a", "b"]
    assert [e.aggregate_version for e in service.history("a")] == [1, 2]


def test_a_message_id_makes_a_command_take_effect_once(storage: Storage) -> None:
    service = _service(storage)
    service.send(Increment(counter_id="a"), message_id="m-1")
    with pytest.raises(AlreadyProcessed):
        service.send(Increment(counter_id="a"), message_id="m-1")
    assert storage.read_model.get(TOTALS, "a").value == 1
    assert storage.outbox.pending_count() == 1


def test_event_handlers_run_for_each_command_and_for_each_command_of_a_group_commit(storage: Storage) -> None:
    service = _service(storage)
    SEEN.clear()
    service.send(Increment(counter_id="a"))
    group = service.group_commit()
    with group.batch() as batch:
        group.send(Increment(counter_id="b"), "m-b")
        group.send(Increment(counter_id="c"), "m-c")
        events = batch.flush()
    group.dispatch(events)
    assert len(SEEN) == 3 and SEEN[1:] == [e.event_id for e in events]
    assert storage.committer.seen("m-b") and storage.committer.seen("m-c")


def test_its_view_rebuilds_to_what_projection_built(storage: Storage) -> None:
    service = _service(storage)
    for counter in ("a", "b", "a"):
        service.send(Increment(counter_id=counter, by=2))
    before = {key: storage.read_model.get(TOTALS, key) for key in ("a", "b")}
    service.rebuild_views()
    assert {key: storage.read_model.get(TOTALS, key) for key in ("a", "b")} == before
