"""The inventory context through its service: all-or-none reservations, idempotent release, and
stock that never goes negative (hypothesis drives random sequences against a simple model)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.outbound.memory.determinism import SequentialIds, SteppingClock
from adapters.outbound.memory.feed import RingBufferFeed
from adapters.outbound.memory.storage import MemoryStorage
from core.inventory.commands import ReleaseStock, ReserveStock, Restock
from core.inventory.events import StockLine
from core.inventory.model import RESERVATION, STOCK_ITEM, ReservationStatus
from core.inventory.queries import GetReservation, GetStock, ListStock
from core.inventory.service import CONTEXT, InventoryService
from core.inventory.wire import reserve_stock_from_json, restock_from_json
from core.kernel.errors import InvalidFields, NotFound, ValidationError
from core.runtime.service import Service

SKUS = ("A", "B", "C")


def inventory(mode: str = "state") -> tuple[InventoryService, MemoryStorage]:
    storage = MemoryStorage(mode, 3)
    service = Service(CONTEXT, storage=storage, feed=RingBufferFeed(100), clock=SteppingClock(),
                      ids=SequentialIds("i"), events_topic="orderhex.inventory.events")
    return InventoryService(service), storage


def test_restocking_makes_stock_available_and_readable() -> None:
    port, _ = inventory()
    assert port.send(Restock(sku="A", quantity=5)) == 5
    assert port.send(Restock(sku="A", quantity=2)) == 7
    level = port.stock(GetStock(sku="A"))
    assert (level.on_hand, level.reserved, level.available) == (7, 0, 7)
    with pytest.raises(NotFound):
        port.stock(GetStock(sku="never"))


def test_a_reservation_takes_every_line_or_none_and_names_each_short_sku() -> None:
    port, _ = inventory()
    port.send(Restock(sku="A", quantity=5))
    port.send(Restock(sku="B", quantity=1))
    refused = port.send(ReserveStock(order_id="o-1", lines=(StockLine("A", 2), StockLine("B", 3), StockLine("Z", 1))))
    assert not refused.reserved and refused.shortages == ("B: wanted 3, available 1", "Z: wanted 1, available 0")
    assert port.stock(GetStock(sku="A")).available == 5, "nothing reserved when one line is short"
    accepted = port.send(ReserveStock(order_id="o-2", lines=(StockLine("A", 2), StockLine("B", 1))))
    assert accepted.reserved
    assert (port.stock(GetStock(sku="A")).available, port.stock(GetStock(sku="B")).available) == (3, 0)
    assert port.reservation(GetReservation(order_id="o-1")).status is ReservationStatus.FAILED


def test_reserving_twice_for_one_order_is_one_reservation() -> None:
    port, storage = inventory()
    port.send(Restock(sku="A", quantity=5))
    first = port.send(ReserveStock(order_id="o-1", lines=(StockLine("A", 2),)))
    again = port.send(ReserveStock(order_id="o-1", lines=(StockLine("A", 2),)))
    assert first == again and port.stock(GetStock(sku="A")).reserved == 2
    assert [r.type for r in storage.outbox.claim(10)].count("inventory.StockReserved") == 1


def test_releasing_gives_stock_back_once_and_again_is_harmless() -> None:
    port, _ = inventory()
    port.send(Restock(sku="A", quantity=5))
    port.send(ReserveStock(order_id="o-1", lines=(StockLine("A", 4),)))
    assert port.send(ReleaseStock(order_id="o-1")) is True
    assert port.send(ReleaseStock(order_id="o-1")) is False
    assert port.send(ReleaseStock(order_id="never")) is False
    assert port.stock(GetStock(sku="A")).available == 5
    assert port.reservation(GetReservation(order_id="o-1")).status is ReservationStatus.RELEASED


def test_bad_input_names_every_bad_field() -> None:
    with pytest.raises(InvalidFields) as info:
        reserve_stock_from_json({"order_id": "", "lines": [{"sku": "", "quantity": 0}, {"sku": "A", "quantity": "2"}]})
    assert [e.field for e in info.value.errors] == ["order_id", "lines[0].sku", "lines[0].quantity",
                                                    "lines[1].quantity"]
    with pytest.raises(ValidationError) as one:
        restock_from_json({"sku": "A", "quantity": -1})
    assert one.value.field == "quantity"
    with pytest.raises(ValidationError, match="unknown field"):
        restock_from_json({"sku": "A", "quantity": 1, "colour": "red"})


def test_stock_lists_filter_by_availability() -> None:
    port, _ = inventory()
    port.send(Restock(sku="A", quantity=1))
    port.send(Restock(sku="B", quantity=1))
    port.send(ReserveStock(order_id="o-1", lines=(StockLine("B", 1),)))
    assert [s.sku for s in port.list_stock(ListStock(in_stock=True)).items] == ["A"]
    assert [s.sku for s in port.list_stock(ListStock(in_stock=False)).items] == ["B"]


operations = st.lists(st.one_of(
    st.tuples(st.just("restock"), st.sampled_from(SKUS), st.integers(1, 5)),
    st.tuples(st.just("reserve"), st.integers(0, 6),
              st.lists(st.tuples(st.sampled_from(SKUS), st.integers(1, 4)), min_size=1, max_size=3)),
    st.tuples(st.just("release"), st.integers(0, 6)),
), max_size=40)


@settings(max_examples=60, deadline=None)
@given(ops=operations, mode=st.sampled_from(["state", "events"]))
def test_random_sequences_match_a_simple_model_and_stock_never_goes_negative(ops: list, mode: str) -> None:
    port, storage = inventory(mode)
    on_hand = dict.fromkeys(SKUS, 0)
    held: dict[str, dict[str, int]] = {}
    asked: set[str] = set()
    for op in ops:
        if op[0] == "restock":
            port.send(Restock(sku=op[1], quantity=op[2]))
            on_hand[op[1]] += op[2]
        elif op[0] == "reserve":
            order, wanted = f"o-{op[1]}", {}
            for sku, quantity in op[2]:
                wanted[sku] = wanted.get(sku, 0) + quantity
            outcome = port.send(ReserveStock(order_id=order, lines=tuple(StockLine(s, q) for s, q in op[2])))
            if order not in asked:
                asked.add(order)
                free = {s: on_hand[s] - sum(h.get(s, 0) for h in held.values()) for s in SKUS}
                fits = all(free[s] >= q for s, q in wanted.items())
                assert outcome.reserved is fits
                if fits:
                    held[order] = wanted
        else:
            order = f"o-{op[1]}"
            assert port.send(ReleaseStock(order_id=order)) is (order in held)
            held.pop(order, None)
    for sku in SKUS:
        reserved = sum(h.get(sku, 0) for h in held.values())
        committed = storage.committer.load(STOCK_ITEM, sku)
        if committed is None:
            assert on_hand[sku] == 0
            continue
        assert (committed.on_hand, committed.reserved) == (on_hand[sku], reserved)
        assert committed.available >= 0
        level = port.stock(GetStock(sku=sku))
        assert (level.on_hand, level.reserved) == (on_hand[sku], reserved), "the view agrees with the store"
    for order in held:
        reservation = storage.committer.load(RESERVATION, order)
        assert reservation is not None and reservation.status is ReservationStatus.RESERVED


def test_an_order_placed_elsewhere_reserves_its_lines_once_and_its_rejection_releases_them() -> None:
    from datetime import UTC, datetime
    from decimal import Decimal

    from core.orders.events import OrderPlaced, OrderRejected, PlacedLine

    port, storage = inventory()
    port.send(Restock(sku="A", quantity=3))
    service = Service(CONTEXT, storage=storage, feed=RingBufferFeed(100), clock=SteppingClock(),
                      ids=SequentialIds("x"), events_topic="orderhex.inventory.events")
    assert service.context.subscriptions == ("orders",)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    placed = OrderPlaced(event_id="e-1", aggregate_id="o-9", aggregate_version=1, occurred_at=at, customer_id="c",
                         currency="EUR", lines=(PlacedLine("A", 2, Decimal("1.00")),))
    assert service.react(placed, "m-1") == 1
    assert service.react(placed, "m-1") == 0
    assert port.stock(GetStock(sku="A")).reserved == 2
    rejected = OrderRejected(event_id="e-2", aggregate_id="o-9", aggregate_version=2, occurred_at=at, reason="no")
    service.react(rejected, "m-2")
    assert port.stock(GetStock(sku="A")).reserved == 0
