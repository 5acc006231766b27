"""A saga participant down past its deadline, across processes: payments is killed with -9 and stays
down longer than `saga.answer_deadline_ms` (1.5 s here, on every process).

Orders placed meanwhile compensate: their stock is released and they are REJECTED with a reason
naming the deadline. When payments comes back it handles the authorizations that waited for it on
its commands topic; each is a late success, which the saga undoes at once, so in the end no payment
is AUTHORIZED, no credit is held and no stock reserved for those orders. An order placed once
payments is back completes normally.

Both modes: in orchestration the saga asks three times and then compensates; in choreography
orders' flow waits as long (its patience) and rejects, and inventory and payments give back what
they hold when they see the rejection, which payments sees after the placement it missed.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.saga_processes import SagaShop, until
from tests.fixtures_kafka import kafka_overrides

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.timeout(300)]

DEADLINE_MS = 1500
WHILE_DOWN = 4
SKU, PRICE, STOCK = "SKU-D", "12.50", 20
CUSTOMER, CREDIT = "c-down", "1000.00"
# Reserving, three tries at authorizing (deadline, backoff, deadline, ...) and compensating take
# about 8 s at a 1.5 s deadline; a busy machine may double that.
REJECTED_WITHIN = 60
# A restarted payments rejoins its consumer group (about 6 s with the short session timeout) and
# handles what waited; each late success is answered with a void.
UNDONE_WITHIN = 90


@pytest.fixture(params=["orchestration", "choreography"])
def mode(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def shop(tmp_path: Path, tansu: Any, mode: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[SagaShop]:
    running = SagaShop(tmp_path, {**kafka_overrides(tansu), "saga.mode": mode,
                                  "saga.answer_deadline_ms": DEADLINE_MS}, monkeypatch)
    try:
        running.start_all()
        running.restock(SKU, STOCK)
        running.open_account(CUSTOMER, CREDIT)
        yield running
    finally:
        running.stop()


def order(quantity: int) -> dict[str, Any]:
    return {"customer_id": CUSTOMER, "currency": "EUR",
            "lines": [{"sku": SKU, "quantity": quantity, "unit_price": PRICE}]}


def undone(shop: SagaShop, order_id: str, mode: str) -> bool:
    """Every try at authorizing the order came back as a late success, the saga undid each and has
    nothing left in flight, and the payment is voided (choreography: the one authorization payments
    made on the placement is a late success, voided on the rejection)."""
    saga = shop.admin("orders", f"/admin/sagas/{order_id}")
    if mode == "choreography":
        payment = shop.found("payments", f"/payments/payments/{order_id}")
        late = [e for e in saga["history"] if e["step"] == "authorize-payment" and e["kind"] == "late_success"]
        return bool(late) and saga["state"] == "compensated" and payment is not None \
            and payment["status"] == "VOIDED"
    tries = {e["attempt"] for e in saga["history"]
             if e["step"] == "authorize-payment" and e["kind"] == "sent" and not e["data"].get("compensation")}
    late = {e["attempt"] for e in saga["history"] if e["step"] == "authorize-payment" and e["kind"] == "late_success"}
    payment = shop.found("payments", f"/payments/payments/{order_id}")
    return (bool(tries) and tries == late and saga["state"] == "compensated" and payment is not None
            and payment["status"] == "VOIDED")


def test_orders_placed_while_payments_is_down_are_rejected_and_its_late_authorizations_undone(
        shop: SagaShop, mode: str) -> None:
    silent = "no reply from payments within" if mode == "orchestration" else "no word from payments within"
    shop.kill("payments")
    down = [shop.place(order(n), key=f"down-{n}") for n in range(1, WHILE_DOWN + 1)]

    until(lambda: all(shop.order(o)["status"] == "REJECTED" for o in down), REJECTED_WITHIN,
          "every order placed while payments is down rejected")
    for order_id in down:
        rejected = shop.order(order_id)
        assert "authorize-payment" in rejected["reason"] and silent in rejected["reason"], rejected

    def released(order_id: str) -> bool:
        reservation = shop.found("inventory", f"/inventory/reservations/{order_id}")
        return reservation is not None and reservation["status"] == "RELEASED"

    # Orchestration releases before it rejects; in choreography inventory releases on the rejection.
    until(lambda: all(released(o) for o in down) and shop.stock(SKU)["reserved"] == 0, REJECTED_WITHIN,
          "the stock of every rejected order given back while payments is down")

    shop.start("payments")
    until(lambda: all(undone(shop, o, mode) for o in down), UNDONE_WITHIN, "every late authorization voided")
    account = shop.account(CUSTOMER)
    assert (Decimal(account["held"]), Decimal(account["available"])) == (0, Decimal(CREDIT)), account
    stock = shop.stock(SKU)
    assert (stock["reserved"], stock["available"]) == (0, STOCK), stock
    assert all(shop.order(o)["status"] == "REJECTED" for o in down)

    after = shop.place(order(2), key="after")
    until(lambda: shop.order(after)["saga"]["state"] == "completed", REJECTED_WITHIN,
          "the order placed after payments came back completed")
    assert shop.order(after)["status"] == "APPROVED"
    payment = shop.found("payments", f"/payments/payments/{after}")
    assert payment is not None and (payment["status"], Decimal(payment["amount"])) == ("AUTHORIZED", Decimal("25.00"))
    assert Decimal(shop.account(CUSTOMER)["held"]) == Decimal("25.00")
    assert shop.stock(SKU)["reserved"] == 2
    assert shop.found("shipping", f"/shipping/shipments/{after}") is not None
