"""The shipping endpoints: a shipment per order, over the Shipping port."""

# No `from __future__ import annotations`: FastAPI reads these signatures at run time.
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from adapters.inbound.rest.inputs import exists, read_json, refuse_unknown_query
from adapters.inbound.rest.problems import problem_responses
from adapters.inbound.rest.representations import CURSOR_DESCRIPTION, REASON_SCHEMA, json_body
from adapters.inbound.rest.security import api_key_guard
from core.kernel.errors import ValidationError
from core.shipping.commands import DispatchShipment
from core.shipping.model import MAX_ADDRESS, ShipmentStatus
from core.shipping.queries import MAX_PAGE, GetShipment, ListShipments
from core.shipping.wire import cancel_shipment_from_json, schedule_shipment_from_json
from ports.shipping import Shipping


class ShipmentOut(BaseModel):
    order_id: str
    customer_id: str
    address: str | None
    status: ShipmentStatus
    reason: str | None
    created_at: str
    updated_at: str


class ShipmentPageOut(BaseModel):
    items: list[ShipmentOut]
    next_cursor: str | None


_TEXT = {"type": "string", "minLength": 1, "pattern": r"\S"}
SCHEDULE_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["order_id", "customer_id"], "additionalProperties": False,
    "properties": {"order_id": _TEXT, "customer_id": _TEXT,
                   "address": {"anyOf": [{**_TEXT, "maxLength": MAX_ADDRESS}, {"type": "null"}]}},
    "example": {"order_id": "o-1", "customer_id": "c-1", "address": "1 Main St"},
}


def shipping_router(shipping: Shipping, api_key: str) -> APIRouter:
    router = APIRouter(prefix="/shipping", tags=["shipping"],
                       dependencies=[Depends(api_key_guard(api_key))] if api_key else [])
    auth = (401,) if api_key else ()

    def read(order_id: str) -> dict[str, Any]:
        return shipping.shipment(GetShipment(order_id=order_id)).to_json()

    @router.post("/shipments", status_code=201, response_model=ShipmentOut, operation_id="schedule_shipment",
                 summary="Schedule an order's shipment",
                 responses={200: {"model": ShipmentOut, "description": "Already scheduled: the first shipment"},
                            **problem_responses(*auth, 413, 422, 503)},
                 openapi_extra=json_body(SCHEDULE_SCHEMA))
    async def schedule(request: Request) -> JSONResponse:
        command = schedule_shipment_from_json(await read_json(request))

        def schedule_and_read() -> tuple[bool, dict[str, Any]]:
            known = exists(lambda: read(command.order_id))
            shipping.send(command)
            return known, read(command.order_id)

        known, body = await run_in_threadpool(schedule_and_read)
        return JSONResponse(body, status_code=200 if known else 201)

    @router.get("/shipments/{order_id}", response_model=ShipmentOut, operation_id="get_shipment",
                summary="Read an order's shipment", responses=problem_responses(*auth, 404, 503))
    async def get_shipment(order_id: str) -> JSONResponse:
        return JSONResponse(await run_in_threadpool(read, order_id))

    @router.get("/shipments", response_model=ShipmentPageOut, operation_id="list_shipments",
                summary="List shipments, newest first", responses=problem_responses(*auth, 422, 503),
                dependencies=[Depends(refuse_unknown_query)])
    async def list_shipments(
        customer: Annotated[str | None, Query(description="only this customer's shipments")] = None,
        status: Annotated[ShipmentStatus | None, Query(description="only shipments in this state")] = None,
        cursor: Annotated[str | None, Query(description=CURSOR_DESCRIPTION)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    ) -> JSONResponse:
        query = ListShipments(customer_id=customer, status=status, cursor=cursor, limit=limit)
        page = await run_in_threadpool(shipping.list_shipments, query)
        return JSONResponse({"items": [s.to_json() for s in page.items], "next_cursor": page.next_cursor})

    @router.post("/shipments/{order_id}/cancel", response_model=ShipmentOut, operation_id="cancel_shipment",
                 summary="Cancel a shipment not yet dispatched", openapi_extra=json_body(REASON_SCHEMA),
                 responses=problem_responses(*auth, 404, 409, 413, 422, 503))
    async def cancel(order_id: str, request: Request) -> JSONResponse:
        data = await read_json(request)
        if isinstance(data, dict) and "order_id" in data:
            raise ValidationError("order_id", "comes from the URL, not the body")
        command = cancel_shipment_from_json({**data, "order_id": order_id} if isinstance(data, dict) else data)

        def cancel_and_read() -> dict[str, Any]:
            shipping.send(command)
            return read(order_id)

        return JSONResponse(await run_in_threadpool(cancel_and_read))

    @router.post("/shipments/{order_id}/dispatch", response_model=ShipmentOut, operation_id="dispatch_shipment",
                 summary="Dispatch a scheduled shipment", responses=problem_responses(*auth, 404, 409, 503))
    async def dispatch(order_id: str) -> JSONResponse:
        def dispatch_and_read() -> dict[str, Any]:
            shipping.send(DispatchShipment(order_id=order_id))
            return read(order_id)

        return JSONResponse(await run_in_threadpool(dispatch_and_read))

    return router
