"""The orders service: the context's descriptor for the runtime, and its inbound port over it.

The descriptor lives here rather than in the package's __init__: importing any module of the
inner ring (commands, for one) would otherwise load the handlers, the ports and the runtime,
and ports/orders.py -> core.orders.commands -> core.orders -> handlers -> ports would be a cycle.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from core.kernel.errors import NotFound, ValidationError
from core.kernel.messages import DomainEvent
from core.orders.commands import ApproveOrder, CancelOrder, OrderCommand, RejectOrder
from core.orders.handlers import COMMAND_HANDLERS, EVENT_HANDLERS
from core.orders.model import ORDER, as_of
from core.orders.projection import project, put_summary, summarise
from core.orders.queries import MAX_PAGE, SUMMARIES, GetOrder, ListOrders, OrderPage, OrderSummary, SagaStatus
from core.orders.sagas import cancel_saga_id, place_saga_id
from core.orders.wire import approve_order_from_json, cancel_order_from_json, reject_order_from_json
from core.runtime.context import Context
from core.runtime.saga import SagaInstance
from core.runtime.service import Service

CONTEXT = Context(
    name="orders",
    aggregates=(ORDER,),
    command_handlers=COMMAND_HANDLERS,
    event_handlers=EVENT_HANDLERS,
    views=(SUMMARIES,),
    project=project,
    summarise=put_summary,
    # What the place-order saga sends orders itself (its pivot and its end), read like any command.
    readers={ApproveOrder: approve_order_from_json, RejectOrder: reject_order_from_json,
             CancelOrder: cancel_order_from_json},
)


def context_for(mode: str) -> Context:
    """The orders context for a saga mode: it follows its participants' events in choreography
    (tracking each order's flow, approving and rejecting), and their replies in orchestration."""
    return CONTEXT if mode == "choreography" else CONTEXT.without_reactions(tuple(EVENT_HANDLERS))


class OrderingService:
    """The Ordering port: commands through the orders service's bus, queries on its views."""

    def __init__(self, service: Service) -> None:
        self._service = service

    def send(self, command: OrderCommand, message_id: str | None = None) -> Any:
        return self._service.send(command, message_id)

    def get(self, query: GetOrder) -> OrderSummary:
        summary = self._service.document(SUMMARIES, query.order_id)
        if summary is None:
            raise NotFound("order", query.order_id)
        saga = self.saga(query.order_id)
        return summary if saga is None else dataclasses.replace(summary, saga=saga)

    def saga(self, order_id: str) -> SagaStatus | None:
        """The saga deciding the order's fate: its cancellation's if it has one, else its placing's;
        None for an order placed without a saga (choreography)."""
        sagas = self._service.storage.sagas
        for saga_id in (cancel_saga_id(order_id), place_saga_id(order_id)):
            record = sagas.get(saga_id)
            if record is not None:
                instance = SagaInstance.from_json(record.instance, version=record.version)
                return SagaStatus(saga_id=saga_id, definition=record.definition, state=instance.state.value,
                                  summary=instance.summary())
        return None

    def list(self, query: ListOrders) -> OrderPage:
        if not 1 <= query.limit <= MAX_PAGE:
            raise ValidationError("limit", f"must be 1..{MAX_PAGE}, got {query.limit}")
        where = SUMMARIES.where(customer_id=query.customer_id,
                                status=query.status.value if query.status is not None else None)
        return self._service.list(SUMMARIES, where, query.cursor, query.limit)

    def history(self, order_id: str) -> list[DomainEvent]:
        return self._service.history(order_id)

    def as_of(self, order_id: str, *, version: int | None = None, at: datetime | None = None) -> OrderSummary:
        order = as_of(self.history(order_id), version=version, at=at)
        if order is None:
            raise NotFound("order", f"{order_id} as of {at.isoformat() if at else f'version {version}'}")
        return summarise(order)
