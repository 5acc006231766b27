from __future__ import annotations

from typing import Protocol

from core.orders.model import OrderStatus
from core.orders.queries import OrderPage, OrderSummary


class SummaryWriter(Protocol):
    """The read model as a unit of work writes it: `put` stages a summary in the transaction,
    `get` sees what this transaction staged, else what is committed."""

    def put(self, summary: OrderSummary, position: int) -> None: ...

    def get(self, order_id: str) -> OrderSummary | None: ...


class ReadModel(Protocol):
    """Order summaries for queries (the CQRS read side) and the projection's position.

    Contract:
    - `put(summary, position)` stores the summary and sets the position (the global sequence of
      the last projected event); inside a unit of work both commit with it or not at all.
    - `get(order_id)` returns the summary or None.
    - `list(customer_id, status, cursor, limit)` returns matching summaries newest first
      (created_at, then order_id, descending); `next_cursor` continues after the last item
      and is None on the last page. Paging over an unchanged set sees every item once.
    - `position()` is 0 when nothing was projected; `clear()` removes all summaries and
      resets the position (for rebuilds).
    """

    def put(self, summary: OrderSummary, position: int) -> None: ...

    def get(self, order_id: str) -> OrderSummary | None: ...

    def list(
        self, *, customer_id: str | None = None, status: OrderStatus | None = None,
        cursor: str | None = None, limit: int = 50,
    ) -> OrderPage: ...

    def position(self) -> int: ...

    def clear(self) -> None: ...
