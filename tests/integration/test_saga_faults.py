"""Faults injected into a saga's participants (the dashboard's faults dialog, `orderhex faults set`)
reach the saga: a refused command compensates, a dropped reply is asked again at the deadline, a
duplicated reply is recorded and changes nothing, a hang leaves the step to its deadline."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.integration.saga_harness import Shop, stepping_shop


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shop]:
    built = stepping_shop(tmp_path, monkeypatch, **{"faults.enabled": True})
    built.stock("SKU-1", 10)
    built.account("c-1", "1000.00")
    try:
        yield built
    finally:
        built.close()


def inject(shop: Shop, service: str, **rates: float) -> None:
    """What the faults dialog and `orderhex faults set` do (no rates: clear)."""
    if rates:
        shop.app.resilience.set_fault(service, rates)
    else:
        shop.app.resilience.clear_fault(service)


def kinds(shop: Shop, order_id: str, step: str) -> list[str]:
    return [entry["kind"] for entry in shop.history(order_id) if entry["step"] == step]


def test_a_refused_command_compensates_what_completed(shop: Shop) -> None:
    inject(shop, "payments", error_rate=1.0)
    order_id = shop.place("c-1", "SKU-1", 2)
    shop.pump()
    order = shop.order(order_id)
    assert order.status.value == "REJECTED" and "an injected fault" in (order.reason or "")
    assert (shop.reserved("SKU-1"), shop.held("c-1")) == (0, Decimal("0"))
    assert shop.saga(order_id).state == "compensated"


def test_a_dropped_reply_is_asked_again_at_the_deadline_and_done_once(shop: Shop) -> None:
    inject(shop, "payments", drop_reply_rate=1.0)
    order_id = shop.place("c-1", "SKU-1", 1)
    shop.pump()
    assert shop.order(order_id).status.value == "PENDING" and shop.held("c-1") == Decimal("10.00")
    inject(shop, "payments")  # cleared: the next try's reply gets through
    shop.wait_past(timedelta(seconds=31))
    shop.wait_past(timedelta(seconds=2))
    assert shop.order(order_id).status.value == "APPROVED"
    assert kinds(shop, order_id, "authorize-payment").count("sent") == 2, "asked again once, at the deadline"
    assert shop.held("c-1") == Decimal("10.00"), "authorized once, however often asked"


def test_a_duplicated_reply_is_recorded_and_changes_nothing(shop: Shop) -> None:
    inject(shop, "inventory", duplicate_reply_rate=1.0)
    order_id = shop.place("c-1", "SKU-1", 3)
    shop.pump()
    assert shop.order(order_id).status.value == "APPROVED" and shop.saga(order_id).state == "completed"
    assert kinds(shop, order_id, "reserve-stock").count("ignored") == 1
    assert shop.reserved("SKU-1") == 3


def test_a_hang_leaves_the_step_to_its_deadline(shop: Shop) -> None:
    inject(shop, "inventory", timeout_rate=1.0)
    order_id = shop.place("c-1", "SKU-1", 1)
    shop.pump()
    assert shop.reserved("SKU-1") == 0, "a hung participant did nothing"
    for _ in range(10):
        if shop.saga(order_id).state == "compensated":
            break
        shop.wait_past(timedelta(seconds=31))
    order = shop.order(order_id)
    assert order.status.value == "REJECTED" and "no reply from inventory" in (order.reason or "")
    assert shop.held("c-1") == Decimal("0")
