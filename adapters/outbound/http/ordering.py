"""The Ordering port over the REST API's /orders routes."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from adapters.outbound.http.api import ServedApi
from core.kernel.errors import NotFound
from core.kernel.messages import DomainEvent, event_from_dict
from core.orders.commands import (
    ApproveOrder,
    CancelOrder,
    OrderCommand,
    PlaceOrder,
    PlaceResult,
    RejectOrder,
    ShipOrder,
)
from core.orders.model import as_of
from core.orders.projection import summarise
from core.orders.queries import GetOrder, ListOrders, OrderPage, OrderSummary
from core.orders.wire import place_order_to_json


def _path(order_id: str, suffix: str = "") -> str:
    return f"/orders/{quote(order_id, safe='')}{suffix}"


class HttpOrdering:
    """Commands and queries sent to a served instance; its answers and refusals come back as core's."""

    def __init__(self, api: ServedApi) -> None:
        self._api = api

    def send(self, command: OrderCommand, message_id: str | None = None) -> PlaceResult | None:
        match command:
            case PlaceOrder():
                headers = {"Idempotency-Key": command.idempotency_key} if command.idempotency_key else {}
                body = place_order_to_json(command)
                body.pop("idempotency_key", None)
                response = self._api.request("POST", "/orders", json=body, headers=headers)
                return PlaceResult(response.json()["order_id"], created=response.status_code == 201)
            case CancelOrder():
                self._api.request("POST", _path(command.order_id, "/cancel"), json={"reason": command.reason})
            case ApproveOrder():
                self._api.request("POST", _path(command.order_id, "/approve"))
            case RejectOrder():
                self._api.request("POST", _path(command.order_id, "/reject"), json={"reason": command.reason})
            case ShipOrder():
                self._api.request("POST", _path(command.order_id, "/ship"))
            case _:
                raise ValueError(f"the served API has no route for {command.type_name}")
        return None

    def get(self, query: GetOrder) -> OrderSummary:
        return OrderSummary.from_json(self._api.request("GET", _path(query.order_id)).json())

    def list(self, query: ListOrders) -> OrderPage:
        params: dict[str, str | int] = {"limit": query.limit}
        if query.customer_id:
            params["customer"] = query.customer_id
        if query.status:
            params["status"] = query.status.value
        if query.cursor:
            params["cursor"] = query.cursor
        data = self._api.request("GET", "/orders", params=params).json()
        items = tuple(OrderSummary.from_json(item) for item in data["items"])
        return OrderPage(items=items, next_cursor=data["next_cursor"])

    def history(self, order_id: str) -> list[DomainEvent]:
        return [event_from_dict(item) for item in self._api.request("GET", _path(order_id, "/history")).json()]

    def as_of(self, order_id: str, *, version: int | None = None, at: datetime | None = None) -> OrderSummary:
        # The served history is all a past state needs: rebuild it here, as the server would.
        order = as_of(self.history(order_id), version=version, at=at)
        if order is None:
            raise NotFound("order", f"{order_id} as of {at.isoformat() if at else f'version {version}'}")
        return summarise(order)
