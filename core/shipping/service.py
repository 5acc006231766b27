"""The shipping service: the context's descriptor for the runtime, and its inbound port over it."""

from __future__ import annotations

from typing import Any

from core.kernel.errors import NotFound, ValidationError
from core.orders.events import OrderApproved, OrderCancelled
from core.runtime.context import Context
from core.runtime.service import Service
from core.shipping.commands import CancelShipment, DispatchShipment, ScheduleShipment, ShippingCommand
from core.shipping.handlers import COMMAND_HANDLERS, EVENT_HANDLERS
from core.shipping.model import SHIPMENT
from core.shipping.projection import project, summarise
from core.shipping.queries import MAX_PAGE, SHIPMENTS, GetShipment, ListShipments, ShipmentPage, ShipmentSummary
from core.shipping.wire import (
    cancel_shipment_from_json,
    dispatch_shipment_from_json,
    schedule_shipment_from_json,
)

CONTEXT = Context(
    name="shipping",
    aggregates=(SHIPMENT,),
    command_handlers=COMMAND_HANDLERS,
    event_handlers=EVENT_HANDLERS,
    views=(SHIPMENTS,),
    project=project,
    summarise=summarise,
    readers={ScheduleShipment: schedule_shipment_from_json, CancelShipment: cancel_shipment_from_json,
             DispatchShipment: dispatch_shipment_from_json},
)

# In orchestration mode the sagas schedule and cancel shipments: reacting as well would act twice.
CHOREOGRAPHY_ONLY = (OrderApproved, OrderCancelled)


def context_for(mode: str) -> Context:
    """The shipping context for a saga mode: it ships approved orders itself in choreography only."""
    return CONTEXT if mode == "choreography" else CONTEXT.without_reactions(CHOREOGRAPHY_ONLY)


class ShippingService:
    """The Shipping port: commands through the shipping service's bus, queries on its view."""

    def __init__(self, service: Service) -> None:
        self._service = service

    def send(self, command: ShippingCommand, message_id: str | None = None) -> Any:
        return self._service.send(command, message_id)

    def shipment(self, query: GetShipment) -> ShipmentSummary:
        found = self._service.document(SHIPMENTS, query.order_id)
        if found is None:
            raise NotFound("shipment", query.order_id)
        return found

    def list_shipments(self, query: ListShipments) -> ShipmentPage:
        if not 1 <= query.limit <= MAX_PAGE:
            raise ValidationError("limit", f"must be 1..{MAX_PAGE}, got {query.limit}")
        where = SHIPMENTS.where(customer_id=query.customer_id,
                                status=query.status.value if query.status is not None else None)
        return self._service.list(SHIPMENTS, where, query.cursor, query.limit)
