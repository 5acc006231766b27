"""A real Application on in-memory adapters with deterministic time and ids."""

from __future__ import annotations

from typing import Any

import bootstrap
from core.orders.commands import LineItem, PlaceOrder

# These apps drive the orders context by hand (approve, cancel, ship), with no saga locking the
# order or adding commands to its outbox; the saga's own tests are tests/integration/test_saga_*.
DETERMINISTIC = {"storage.adapter": "memory", "messaging.adapter": "memory", "clock": "stepping",
                 "ids": "sequential", "saga.mode": "manual"}


def memory_app(**overrides: Any) -> bootstrap.Application:
    return bootstrap.Application(bootstrap.load_config(env={}, overrides={**DETERMINISTIC, **overrides}))


def place_cmd(customer: str = "c-1", key: str | None = None, qty: int = 1, sku: str = "A") -> PlaceOrder:
    from decimal import Decimal

    return PlaceOrder(customer_id=customer, currency="EUR", idempotency_key=key,
                      lines=(LineItem(sku=sku, quantity=qty, unit_price=Decimal("2.50")),))
