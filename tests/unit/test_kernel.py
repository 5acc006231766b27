"""The kernel: qualified message names, reading old bare names, views' cursors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.kernel.errors import ValidationError
from core.kernel.messages import Command, DomainEvent, event_class, event_from_dict
from core.kernel.views import decode_cursor, encode_cursor, sort_time
from core.orders.commands import PlaceOrder
from core.orders.events import OrderPlaced

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, kw_only=True)
class StockReserved(DomainEvent, context="kernel-test-a"):
    sku: str

    @classmethod
    def from_payload(cls, *, payload: dict[str, Any], **meta: Any) -> StockReserved:
        return cls(**meta, sku=payload["sku"])


def _other_reserved() -> type[DomainEvent]:
    # Defined in a function so the class name repeats in a second context, as it would in a real one.
    @dataclass(frozen=True, kw_only=True)
    class StockReserved(DomainEvent, context="kernel-test-b"):
        amount: int

        @classmethod
        def from_payload(cls, *, payload: dict[str, Any], **meta: Any) -> DomainEvent:
            return cls(**meta, amount=int(payload["amount"]))

    return StockReserved


def test_message_types_are_qualified_by_their_context() -> None:
    assert OrderPlaced.type_name == "orders.OrderPlaced"
    assert PlaceOrder.type_name == "orders.PlaceOrder"
    assert event_class("orders.OrderPlaced") is OrderPlaced


def test_two_contexts_may_own_an_event_of_the_same_name() -> None:
    other = _other_reserved()
    mine = StockReserved(event_id="e1", aggregate_id="a", aggregate_version=1, occurred_at=T0, sku="S")
    theirs = other(event_id="e2", aggregate_id="a", aggregate_version=1, occurred_at=T0, amount=3)  # type: ignore[call-arg]
    assert event_from_dict(mine.to_dict()) == mine
    assert event_from_dict(theirs.to_dict()) == theirs
    with pytest.raises(ValueError, match="unknown event type 'StockReserved'"):
        event_class("StockReserved")  # a bare name two contexts share names neither


def test_a_bare_name_written_before_names_were_qualified_still_reads() -> None:
    placed = OrderPlaced(event_id="e1", aggregate_id="o-1", aggregate_version=1, occurred_at=T0, customer_id="c",
                         currency="EUR", lines=())
    old = {**placed.to_dict(), "type": "OrderPlaced"}
    assert event_from_dict(old) == placed


def test_a_command_without_a_context_keeps_its_bare_name() -> None:
    @dataclass(frozen=True, kw_only=True)
    class Ping(Command):
        pass

    assert Ping.type_name == "Ping" and Ping().type == "Ping"


def test_sort_time_orders_as_time_does_whatever_the_microseconds() -> None:
    times = [T0, T0 + timedelta(microseconds=1), T0 + timedelta(seconds=1), T0 + timedelta(hours=-1)]
    assert sorted(times, key=sort_time) == sorted(times)


def test_a_cursor_round_trips_and_a_foreign_one_is_refused() -> None:
    assert decode_cursor(encode_cursor(sort_time(T0), "o|1")) == (sort_time(T0), "o|1")
    for bad in ("not-a-cursor", encode_cursor("2026-01-01T00:00:00", "o-1")):
        with pytest.raises(ValidationError) as info:
            decode_cursor(bad)
        assert info.value.field == "cursor"
