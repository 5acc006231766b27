"""The payments endpoints: credit accounts per customer and payments per order, over the Payments port."""

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
from core.kernel.errors import ValidationError
from core.payments.commands import CapturePayment, VoidPayment
from core.payments.queries import MAX_PAGE, GetAccount, GetPayment, ListAccounts
from core.payments.wire import authorize_payment_from_json, open_account_from_json
from ports.payments import Payments


class AccountOut(BaseModel):
    customer_id: str
    currency: str
    credit_limit: str
    held: str
    spent: str
    available: str
    created_at: str
    updated_at: str


class AccountPageOut(BaseModel):
    items: list[AccountOut]
    next_cursor: str | None


class PaymentOut(BaseModel):
    order_id: str
    customer_id: str
    amount: str
    currency: str
    status: str
    reason: str | None
    created_at: str
    updated_at: str


_TEXT = {"type": "string", "minLength": 1, "pattern": r"\S"}
_AMOUNT = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$",
           "description": "a decimal string in the currency's minor unit; money is never a float"}
_CURRENCY = {"type": "string", "pattern": "^[A-Z]{3}$", "default": "EUR"}
OPEN_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["credit_limit"], "additionalProperties": False,
    "properties": {"credit_limit": _AMOUNT, "currency": _CURRENCY},
    "example": {"credit_limit": "500.00", "currency": "EUR"},
}
AUTHORIZE_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["order_id", "customer_id", "amount"], "additionalProperties": False,
    "properties": {"order_id": _TEXT, "customer_id": _TEXT, "amount": _AMOUNT, "currency": _CURRENCY},
    "example": {"order_id": "o-1", "customer_id": "c-1", "amount": "19.98", "currency": "EUR"},
}


def payments_router(payments: Payments, api_key: str) -> APIRouter:
    router = APIRouter(prefix="/payments", tags=["payments"],
                       dependencies=[Depends(api_key_guard(api_key))] if api_key else [])
    auth = (401,) if api_key else ()

    def payment(order_id: str) -> dict[str, Any]:
        return payments.payment(GetPayment(order_id=order_id)).to_json()

    @router.put("/accounts/{customer_id}", status_code=201, response_model=AccountOut, operation_id="open_account",
                summary="Open a customer's credit account",
                responses={200: {"model": AccountOut, "description": "Already open: the account as it is"},
                           **problem_responses(*auth, 413, 422, 503)},
                openapi_extra=json_body(OPEN_SCHEMA))
    async def open_account(customer_id: str, request: Request) -> JSONResponse:
        data = await read_json(request)
        if isinstance(data, dict) and "customer_id" in data:
            raise ValidationError("customer_id", "comes from the URL, not the body")
        command = open_account_from_json({**data, "customer_id": customer_id} if isinstance(data, dict) else data)

        def open_and_read() -> tuple[bool, dict[str, Any]]:
            opened = payments.send(command)
            return bool(opened), payments.account(GetAccount(customer_id=customer_id)).to_json()

        opened, body = await run_in_threadpool(open_and_read)
        return JSONResponse(body, status_code=201 if opened else 200)

    @router.get("/accounts/{customer_id}", response_model=AccountOut, operation_id="get_account",
                summary="A customer's credit: limit, held, spent, available",
                responses=problem_responses(*auth, 404, 503))
    async def get_account(customer_id: str) -> JSONResponse:
        found = await run_in_threadpool(payments.account, GetAccount(customer_id=customer_id))
        return JSONResponse(found.to_json())

    @router.get("/accounts", response_model=AccountPageOut, operation_id="list_accounts", summary="List accounts",
                responses=problem_responses(*auth, 422, 503), dependencies=[Depends(refuse_unknown_query)])
    async def list_accounts(
        cursor: Annotated[str | None, Query(description=CURSOR_DESCRIPTION)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    ) -> JSONResponse:
        page = await run_in_threadpool(payments.list_accounts, ListAccounts(cursor=cursor, limit=limit))
        return JSONResponse({"items": [a.to_json() for a in page.items], "next_cursor": page.next_cursor})

    @router.post("/payments", status_code=201, response_model=PaymentOut, operation_id="authorize_payment",
                 summary="Hold a customer's credit for an order (or decline, saying why)",
                 responses={200: {"model": PaymentOut, "description": "This order asked before: its outcome"},
                            **problem_responses(*auth, 413, 422, 503)},
                 openapi_extra=json_body(AUTHORIZE_SCHEMA))
    async def authorize(request: Request) -> JSONResponse:
        command = authorize_payment_from_json(await read_json(request))

        def authorize_and_read() -> tuple[bool, dict[str, Any]]:
            known = exists(lambda: payment(command.order_id))
            payments.send(command)
            return known, payment(command.order_id)

        known, body = await run_in_threadpool(authorize_and_read)
        return JSONResponse(body, status_code=200 if known else 201)

    @router.get("/payments/{order_id}", response_model=PaymentOut, operation_id="get_payment",
                summary="An order's payment", responses=problem_responses(*auth, 404, 503))
    async def get_payment(order_id: str) -> JSONResponse:
        return JSONResponse(await run_in_threadpool(payment, order_id))

    @router.post("/payments/{order_id}/void", response_model=PaymentOut, operation_id="void_payment",
                 summary="Give an order's held credit back (again: no effect)",
                 responses=problem_responses(*auth, 404, 409, 503))
    async def void(order_id: str) -> JSONResponse:
        def void_and_read() -> dict[str, Any]:
            payments.send(VoidPayment(order_id=order_id))
            return payment(order_id)

        return JSONResponse(await run_in_threadpool(void_and_read))

    @router.post("/payments/{order_id}/capture", response_model=PaymentOut, operation_id="capture_payment",
                 summary="Take an order's held credit", responses=problem_responses(*auth, 404, 409, 503))
    async def capture(order_id: str) -> JSONResponse:
        def capture_and_read() -> dict[str, Any]:
            payments.send(CapturePayment(order_id=order_id))
            return payment(order_id)

        return JSONResponse(await run_in_threadpool(capture_and_read))

    return router
