"""The inventory service: the context's descriptor for the runtime, and its inbound port over it."""

from __future__ import annotations

from typing import Any

from core.inventory.commands import InventoryCommand, ReleaseStock, ReserveStock, Restock
from core.inventory.handlers import COMMAND_HANDLERS, EVENT_HANDLERS
from core.inventory.model import RESERVATION, STOCK_ITEM
from core.inventory.projection import project, summarise
from core.inventory.queries import (
    MAX_PAGE,
    RESERVATIONS,
    STOCK,
    GetReservation,
    GetStock,
    ListStock,
    ReservationSummary,
    StockLevel,
    StockPage,
)
from core.inventory.wire import release_stock_from_json, reserve_stock_from_json, restock_from_json
from core.kernel.errors import NotFound, ValidationError
from core.orders.events import OrderCancelled, OrderPlaced, OrderRejected
from core.runtime.context import Context
from core.runtime.service import Service

CONTEXT = Context(
    name="inventory",
    aggregates=(STOCK_ITEM, RESERVATION),
    command_handlers=COMMAND_HANDLERS,
    event_handlers=EVENT_HANDLERS,
    views=(STOCK, RESERVATIONS),
    project=project,
    summarise=summarise,
    readers={Restock: restock_from_json, ReserveStock: reserve_stock_from_json, ReleaseStock: release_stock_from_json},
)

# In orchestration mode (saga.mode) the place-order and cancel-order sagas send the commands that
# these reactions would otherwise run: reacting as well would act twice on one order.
CHOREOGRAPHY_ONLY = (OrderPlaced, OrderRejected, OrderCancelled)


def context_for(mode: str) -> Context:
    """The inventory context for a saga mode: with its reactions to orders' events in choreography
    and manual mode (it reserves and releases stock as orders' events arrive), without them in orchestration."""
    return CONTEXT.without_reactions(CHOREOGRAPHY_ONLY) if mode == "orchestration" else CONTEXT


class InventoryService:
    """The Inventory port: commands through the inventory service's bus, queries on its views."""

    def __init__(self, service: Service) -> None:
        self._service = service

    def send(self, command: InventoryCommand, message_id: str | None = None) -> Any:
        return self._service.send(command, message_id)

    def stock(self, query: GetStock) -> StockLevel:
        level = self._service.document(STOCK, query.sku)
        if level is None:
            raise NotFound("sku", query.sku)
        return level

    def list_stock(self, query: ListStock) -> StockPage:
        if not 1 <= query.limit <= MAX_PAGE:
            raise ValidationError("limit", f"must be 1..{MAX_PAGE}, got {query.limit}")
        in_stock = None if query.in_stock is None else ("yes" if query.in_stock else "no")
        return self._service.list(STOCK, STOCK.where(in_stock=in_stock), query.cursor, query.limit)

    def reservation(self, query: GetReservation) -> ReservationSummary:
        found = self._service.document(RESERVATIONS, query.order_id)
        if found is None:
            raise NotFound("reservation", query.order_id)
        return found
