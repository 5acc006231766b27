"""The inventory endpoints: stock per SKU and reservations per order, over the Inventory port."""

# No `from __future__ import annotations`: FastAPI reads these signatures at run time.
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from adapters.inbound.rest.inputs import exists, read_json, refuse_unknown_query
from adapters.inbound.rest.problems import problem_responses
from adapters.inbound.rest.representations import CURSOR_DESCRIPTION, json_body
from adapters.inbound.rest.security import api_key_guard
from core.inventory.commands import ReleaseStock
from core.inventory.model import MAX_LINES, MAX_QUANTITY
from core.inventory.queries import MAX_PAGE, GetReservation, GetStock, ListStock
from core.inventory.wire import reserve_stock_from_json, restock_from_json
from core.kernel.errors import ValidationError
from ports.inventory import Inventory


class StockOut(BaseModel):
    sku: str
    on_hand: int
    reserved: int
    available: int
    created_at: str
    updated_at: str


class StockPageOut(BaseModel):
    items: list[StockOut]
    next_cursor: str | None


class ReservationOut(BaseModel):
    order_id: str
    status: str
    lines: list[dict[str, Any]]
    shortages: list[dict[str, Any]]
    created_at: str
    updated_at: str


_QUANTITY = {"type": "integer", "minimum": 1, "maximum": MAX_QUANTITY}
RESTOCK_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["quantity"], "additionalProperties": False,
    "properties": {"quantity": _QUANTITY}, "example": {"quantity": 10},
}
RESERVE_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["order_id", "lines"], "additionalProperties": False,
    "properties": {
        "order_id": {"type": "string", "minLength": 1, "pattern": r"\S"},
        "lines": {"type": "array", "minItems": 1, "maxItems": MAX_LINES, "items": {
            "type": "object", "required": ["sku", "quantity"], "additionalProperties": False,
            "properties": {"sku": {"type": "string", "minLength": 1, "pattern": r"\S"}, "quantity": _QUANTITY}}},
    },
    "example": {"order_id": "o-1", "lines": [{"sku": "SKU-1", "quantity": 2}]},
}


def inventory_router(inventory: Inventory, api_key: str) -> APIRouter:
    router = APIRouter(prefix="/inventory", tags=["inventory"],
                       dependencies=[Depends(api_key_guard(api_key))] if api_key else [])
    auth = (401,) if api_key else ()

    @router.post("/stock/{sku}/restock", response_model=StockOut, summary="Add stock to a SKU",
                 operation_id="restock", responses=problem_responses(*auth, 413, 422, 503),
                 openapi_extra=json_body(RESTOCK_SCHEMA))
    async def restock(sku: str, request: Request) -> JSONResponse:
        data = await read_json(request)
        if isinstance(data, dict) and "sku" in data:
            raise ValidationError("sku", "comes from the URL, not the body")
        command = restock_from_json({**data, "sku": sku} if isinstance(data, dict) else data)

        def restock_and_read() -> dict[str, Any]:
            inventory.send(command)
            return inventory.stock(GetStock(sku=command.sku)).to_json()

        return JSONResponse(await run_in_threadpool(restock_and_read))

    @router.get("/stock/{sku}", response_model=StockOut, summary="Read one SKU's stock", operation_id="get_stock",
                responses=problem_responses(*auth, 404, 503))
    async def get_stock(sku: str) -> JSONResponse:
        return JSONResponse((await run_in_threadpool(inventory.stock, GetStock(sku=sku))).to_json())

    @router.get("/stock", response_model=StockPageOut, summary="List stock", operation_id="list_stock",
                responses=problem_responses(*auth, 422, 503), dependencies=[Depends(refuse_unknown_query)])
    async def list_stock(
        in_stock: Annotated[bool | None, Query(description="only SKUs with (true) or without (false) stock")] = None,
        cursor: Annotated[str | None, Query(description=CURSOR_DESCRIPTION)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    ) -> JSONResponse:
        page = await run_in_threadpool(inventory.list_stock, ListStock(in_stock=in_stock, cursor=cursor, limit=limit))
        return JSONResponse({"items": [s.to_json() for s in page.items], "next_cursor": page.next_cursor})

    @router.post("/reservations", status_code=201, response_model=ReservationOut, operation_id="reserve_stock",
                 summary="Reserve every line for an order, or none",
                 responses={200: {"model": ReservationOut, "description": "This order asked before: its outcome"},
                            **problem_responses(*auth, 413, 422, 503)},
                 openapi_extra=json_body(RESERVE_SCHEMA))
    async def reserve(request: Request) -> JSONResponse:
        command = reserve_stock_from_json(await read_json(request))

        def reserve_and_read() -> tuple[bool, dict[str, Any]]:
            known = exists(lambda: inventory.reservation(GetReservation(order_id=command.order_id)))
            inventory.send(command)
            return known, inventory.reservation(GetReservation(order_id=command.order_id)).to_json()

        known, body = await run_in_threadpool(reserve_and_read)
        return JSONResponse(body, status_code=200 if known else 201)

    @router.get("/reservations/{order_id}", response_model=ReservationOut, operation_id="get_reservation",
                summary="What an order holds", responses=problem_responses(*auth, 404, 503))
    async def get_reservation(order_id: str) -> JSONResponse:
        found = await run_in_threadpool(inventory.reservation, GetReservation(order_id=order_id))
        return JSONResponse(found.to_json())

    @router.post("/reservations/{order_id}/release", response_model=ReservationOut, operation_id="release_stock",
                 summary="Give back what an order holds (again: no effect)",
                 responses=problem_responses(*auth, 404, 503))
    async def release(order_id: str) -> JSONResponse:
        def release_and_read() -> dict[str, Any]:
            inventory.send(ReleaseStock(order_id=order_id))
            return inventory.reservation(GetReservation(order_id=order_id)).to_json()

        return JSONResponse(await run_in_threadpool(release_and_read))

    return router

