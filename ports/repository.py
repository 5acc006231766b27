from __future__ import annotations

from typing import Protocol

from core.orders.model import Order


class OrderRepository(Protocol):
    """Orders inside one unit of work. Nothing it does is visible to others before commit.

    Contract:
    - `get` returns a fresh Order (never one shared with another unit of work) or None.
    - `get_by_idempotency_key` finds the order placed with that key, or None.
    - `add` stages a new order; `save` stages a changed one. At commit a save whose stored
      version is not `order.persisted_version` raises ConcurrencyConflict; an add whose id or
      idempotency key exists raises ConcurrencyConflict too (someone else placed it first).
    """

    def get(self, order_id: str) -> Order | None: ...

    def get_by_idempotency_key(self, key: str) -> Order | None: ...

    def add(self, order: Order) -> None: ...

    def save(self, order: Order) -> None: ...
