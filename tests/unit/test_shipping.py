"""The shipping context through its service: one shipment per order, what can still be cancelled,
and the lifecycle against a simple model (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.outbound.memory.determinism import SequentialIds, SteppingClock
from adapters.outbound.memory.feed import RingBufferFeed
from adapters.outbound.memory.storage import MemoryStorage
from core.kernel.errors import IllegalTransition, InvalidFields, NotFound
from core.runtime.service import Service
from core.shipping.commands import CancelShipment, DispatchShipment, ScheduleShipment
from core.shipping.model import ShipmentStatus
from core.shipping.queries import GetShipment, ListShipments
from core.shipping.service import CONTEXT, ShippingService
from core.shipping.wire import schedule_shipment_from_json


def shipping(mode: str = "state") -> ShippingService:
    service = Service(CONTEXT, storage=MemoryStorage(mode, 2), feed=RingBufferFeed(100), clock=SteppingClock(),
                      ids=SequentialIds("s"), events_topic="orderhex.shipping.events")
    return ShippingService(service)


def test_scheduling_twice_for_one_order_is_one_shipment() -> None:
    port = shipping()
    first = port.send(ScheduleShipment(order_id="o-1", customer_id="c-1", address="1 Main St"))
    assert first is ShipmentStatus.SCHEDULED
    port.send(ScheduleShipment(order_id="o-1", customer_id="c-1", address="elsewhere"))
    shipment = port.shipment(GetShipment(order_id="o-1"))
    assert (shipment.status, shipment.address) == (ShipmentStatus.SCHEDULED, "1 Main St")
    assert len(port.list_shipments(ListShipments(customer_id="c-1")).items) == 1


def test_a_dispatched_shipment_cannot_be_cancelled_and_a_cancelled_one_not_dispatched() -> None:
    port = shipping()
    port.send(ScheduleShipment(order_id="o-1", customer_id="c-1"))
    port.send(ScheduleShipment(order_id="o-2", customer_id="c-1"))
    assert port.send(DispatchShipment(order_id="o-1")) is True
    with pytest.raises(IllegalTransition, match="shipment o-1 is DISPATCHED: cannot cancel"):
        port.send(CancelShipment(order_id="o-1", reason="too late"))
    assert port.send(CancelShipment(order_id="o-2", reason="order rejected")) is True
    assert port.send(CancelShipment(order_id="o-2", reason="again")) is False, "a compensation may repeat"
    with pytest.raises(IllegalTransition):
        port.send(DispatchShipment(order_id="o-2"))
    assert port.send(CancelShipment(order_id="never", reason="x")) is False
    with pytest.raises(NotFound):
        port.send(DispatchShipment(order_id="never"))
    assert port.shipment(GetShipment(order_id="o-2")).reason == "order rejected"


def test_bad_input_names_every_bad_field() -> None:
    with pytest.raises(InvalidFields) as info:
        schedule_shipment_from_json({"order_id": " ", "customer_id": 7, "address": ""})
    assert [e.field for e in info.value.errors] == ["order_id", "customer_id", "address"]


@settings(max_examples=50, deadline=None)
@given(ops=st.lists(st.tuples(st.sampled_from(["schedule", "cancel", "dispatch"]), st.integers(0, 2)), max_size=25),
       mode=st.sampled_from(["state", "events"]))
def test_random_sequences_follow_the_lifecycle(ops: list, mode: str) -> None:
    port = shipping(mode)
    model: dict[str, ShipmentStatus] = {}
    for action, n in ops:
        order = f"o-{n}"
        state = model.get(order)
        if action == "schedule":
            port.send(ScheduleShipment(order_id=order, customer_id="c"))
            model.setdefault(order, ShipmentStatus.SCHEDULED)
        elif action == "cancel":
            if state is ShipmentStatus.DISPATCHED:
                with pytest.raises(IllegalTransition):
                    port.send(CancelShipment(order_id=order, reason="r"))
            else:
                assert port.send(CancelShipment(order_id=order, reason="r")) is (state is ShipmentStatus.SCHEDULED)
                if state is not None:
                    model[order] = ShipmentStatus.CANCELLED
        elif state is None:
            with pytest.raises(NotFound):
                port.send(DispatchShipment(order_id=order))
        elif state is ShipmentStatus.CANCELLED:
            with pytest.raises(IllegalTransition):
                port.send(DispatchShipment(order_id=order))
        else:
            assert port.send(DispatchShipment(order_id=order)) is (state is ShipmentStatus.SCHEDULED)
            model[order] = ShipmentStatus.DISPATCHED
    for order, status in model.items():
        assert port.shipment(GetShipment(order_id=order)).status is status
