"""The order endpoints: HTTP in, core's commands and queries, HTTP out. No business rule here."""

# No `from __future__ import annotations`: FastAPI reads these signatures at run time, and
# their Annotated dependencies refer to local variables a string annotation cannot resolve.
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BeforeValidator

from adapters.inbound.rest.inputs import header_text, read_json, refuse_unknown_query
from adapters.inbound.rest.problems import problem_responses
from adapters.inbound.rest.representations import (
    CURSOR_DESCRIPTION,
    ORDER_EXAMPLE,
    PLACE_ORDER_SCHEMA,
    REASON_SCHEMA,
    EventOut,
    OrderOut,
    OrderPageOut,
    event_json,
    json_body,
    page_json,
)
from adapters.inbound.rest.security import api_key_guard
from core.kernel.errors import ValidationError
from core.orders.commands import ApproveOrder, CancelOrder, PlaceResult, RejectOrder, ShipOrder
from core.orders.model import OrderStatus
from core.orders.queries import MAX_PAGE, GetOrder, ListOrders, OrderSummary
from core.orders.wire import MAX_KEY_LENGTH, cancel_order_from_json, place_order_from_json
from ports.orders import Ordering


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


# `?status=pending` means what the CLI's `--status pending` means: state names in any case.
StatusFilter = Annotated[OrderStatus | None, BeforeValidator(_upper), Query(
    description="only orders in this state; case-insensitive (`pending` = `PENDING`)")]


def orders_router(ordering: Ordering, api_key: str) -> APIRouter:
    # The key and its 401 appear in the OpenAPI document only when one is configured, so the
    # document describes the service as deployed.
    router = APIRouter(tags=["orders"], dependencies=[Depends(api_key_guard(api_key))] if api_key else [])
    auth = (401,) if api_key else ()

    @router.post(
        "/orders", status_code=201, response_model=OrderOut, summary="Place an order",
        description="Places an order in state PENDING. Lines repeating a SKU are merged (they must agree on "
                    "the price). With an `Idempotency-Key`, a retry of the same body returns the first order "
                    "(200) and another body under that key is refused (409). The key may come in the body "
                    "(`idempotency_key`) instead; given in both, they must be equal (else 422).",
        responses={
            201: {"description": "Placed now", "headers": {"Location": {
                "description": "the new order's URL", "schema": {"type": "string"}, "required": True}},
                  "content": {"application/json": {"example": ORDER_EXAMPLE}}},
            200: {"model": OrderOut, "description": "A replay: this Idempotency-Key already placed this order",
                  "content": {"application/json": {"example": ORDER_EXAMPLE}}},
            **problem_responses(*auth, 409, 413, 422, 503),
        },
        openapi_extra=json_body(PLACE_ORDER_SCHEMA),
    )
    async def place_order(
        request: Request,
        idempotency_key: Annotated[str | None, Header(
            alias="Idempotency-Key", max_length=MAX_KEY_LENGTH,
            description="placing again with this key and the same body returns the first order; "
                        "with a different body, 409. A body that carries `idempotency_key` too must carry "
                        "this same key, else 422 naming `idempotency_key`")] = None,
    ) -> JSONResponse:
        idempotency_key = header_text(idempotency_key, "Idempotency-Key")
        data = await read_json(request)
        in_body = data.get("idempotency_key") if isinstance(data, dict) else None
        if None not in (idempotency_key, in_body) and in_body != idempotency_key:
            raise ValidationError("idempotency_key", "the Idempotency-Key header and the body's key differ")
        command = place_order_from_json(data, idempotency_key)

        def place_and_read() -> tuple[PlaceResult, OrderSummary]:  # one trip to the thread pool, not two
            result = ordering.send(command)
            return result, ordering.get(GetOrder(order_id=result.order_id))

        result, summary = await run_in_threadpool(place_and_read)
        location = f"/orders/{quote(result.order_id, safe='')}"
        return JSONResponse(summary.to_json(), status_code=201 if result.created else 200,
                            headers={"Location": location})

    @router.get("/orders/{order_id}", response_model=OrderOut, summary="Read one order",
                description="The order as the read model holds it: state, lines, total, version.",
                responses=problem_responses(*auth, 404, 422, 503))
    async def get_order(order_id: str) -> JSONResponse:
        return JSONResponse((await run_in_threadpool(ordering.get, GetOrder(order_id=order_id))).to_json())

    @router.get("/orders", response_model=OrderPageOut, summary="List orders, newest first",
                description="A page of orders, newest first, optionally of one customer and in one state. "
                            "Pass `next_cursor` back as `cursor` for the next page; it is null on the last. "
                            "An unknown query parameter is refused, never ignored.",
                responses=problem_responses(*auth, 422, 503), dependencies=[Depends(refuse_unknown_query)])
    async def list_orders(
        customer: Annotated[str | None, Query(description="only this customer's orders")] = None,
        status: StatusFilter = None,
        cursor: Annotated[str | None, Query(description=CURSOR_DESCRIPTION)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    ) -> JSONResponse:
        query = ListOrders(customer_id=customer, status=status, cursor=cursor, limit=limit)
        return JSONResponse(page_json(await run_in_threadpool(ordering.list, query)))

    async def change(order_id: str, act: Callable[[], None]) -> JSONResponse:
        def act_and_read() -> OrderSummary:  # one trip to the thread pool, not two
            act()
            return ordering.get(GetOrder(order_id=order_id))

        return JSONResponse((await run_in_threadpool(act_and_read)).to_json())

    async def with_reason(order_id: str, request: Request) -> CancelOrder:
        # Cancel and reject take the same body, {"reason"}: both go through the one wire parser.
        data = await read_json(request)
        if isinstance(data, dict) and "order_id" in data:
            raise ValidationError("order_id", "comes from the URL, not the body")
        return cancel_order_from_json({**data, "order_id": order_id} if isinstance(data, dict) else data)

    @router.post("/orders/{order_id}/cancel", response_model=OrderOut, summary="Cancel an order",
                 description="A PENDING or APPROVED order becomes CANCELLED with the reason given.",
                 responses=problem_responses(*auth, 404, 409, 413, 422, 503), openapi_extra=json_body(REASON_SCHEMA))
    async def cancel_order(order_id: str, request: Request) -> JSONResponse:
        command = await with_reason(order_id, request)
        return await change(order_id, lambda: ordering.send(command))

    @router.post("/orders/{order_id}/reject", response_model=OrderOut, summary="Reject a pending order",
                 description="A PENDING order becomes REJECTED with the reason given.",
                 responses=problem_responses(*auth, 404, 409, 413, 422, 503), openapi_extra=json_body(REASON_SCHEMA))
    async def reject_order(order_id: str, request: Request) -> JSONResponse:
        parsed = await with_reason(order_id, request)
        command = RejectOrder(order_id=parsed.order_id, reason=parsed.reason)
        return await change(order_id, lambda: ordering.send(command))

    @router.post("/orders/{order_id}/approve", response_model=OrderOut, summary="Approve a pending order",
                 description="A PENDING order becomes APPROVED. No body.",
                 responses=problem_responses(*auth, 404, 409, 422, 503))
    async def approve_order(order_id: str) -> JSONResponse:
        return await change(order_id, lambda: ordering.send(ApproveOrder(order_id=order_id)))

    @router.post("/orders/{order_id}/ship", response_model=OrderOut, summary="Ship an approved order",
                 description="An APPROVED order becomes SHIPPED. No body.",
                 responses=problem_responses(*auth, 404, 409, 422, 503))
    async def ship_order(order_id: str) -> JSONResponse:
        return await change(order_id, lambda: ordering.send(ShipOrder(order_id=order_id)))

    @router.get("/orders/{order_id}/history", response_model=list[EventOut], summary="An order's domain events",
                description="Its domain events in version order (OrderPlaced first).",
                responses=problem_responses(*auth, 404, 422, 503))
    async def get_order_history(order_id: str) -> JSONResponse:
        events = await run_in_threadpool(ordering.history, order_id)
        return JSONResponse([event_json(e) for e in events])

    return router
