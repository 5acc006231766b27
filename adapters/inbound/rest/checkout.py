"""POST /checkout/quote: the chained checkout (validation -> credit check -> approval), with a deadline."""

# No `from __future__ import annotations`: FastAPI reads these signatures at run time.
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from adapters.inbound.rest.inputs import read_json
from adapters.inbound.rest.problems import problem, problem_responses
from adapters.inbound.rest.representations import json_body
from adapters.inbound.rest.security import api_key_guard
from core.orders.checkout import Checkout, HopFailed
from core.orders.wire import place_order_schema

DEADLINE_HEADER = "X-Deadline-Ms"
QUOTE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"description": "The quote and each hop's latency"},
    504: {"description": "A hop refused work it could not finish before the deadline: `hop` names it"},
}


def checkout_router(checkout: Checkout, api_key: str) -> APIRouter:
    router = APIRouter(tags=["checkout"], dependencies=[Depends(api_key_guard(api_key))] if api_key else [])
    auth = (401,) if api_key else ()

    @router.post("/checkout/quote", summary="Quote an order: validation, credit check, approval, in sequence",
                 description="Three synchronous hops, each over its port: the body is validated (orders), the "
                             "customer's credit read (payments), the approval rule applied (orders). One deadline "
                             f"(`{DEADLINE_HEADER}`, else checkout.deadline_ms) covers the chain; each hop gets "
                             "what is left and refuses work it cannot finish in it (504 naming the hop). Nothing "
                             "is placed or held.",
                 responses={**QUOTE_RESPONSE, **problem_responses(*auth, 413, 422, 503)},
                 openapi_extra=json_body(place_order_schema()))
    async def quote_checkout(request: Request, deadline_ms: Annotated[int | None, Header(
            alias=DEADLINE_HEADER, ge=1, le=600_000, description="milliseconds the caller will wait")] = None,
    ) -> JSONResponse:
        data = await read_json(request)
        seconds = None if deadline_ms is None else deadline_ms / 1000
        try:
            quote = await run_in_threadpool(checkout.quote, data, seconds)
        except HopFailed as exc:
            hops = [hop.to_json() for hop in exc.hops]
            if exc.deadline:
                return problem(504, str(exc), kind="deadline-exceeded", title="Deadline exceeded", hop=exc.hop,
                               service=exc.service, hops=hops)
            return problem(503, str(exc), kind="hop-failed", hop=exc.hop, service=exc.service, hops=hops,
                           headers={"Retry-After": "1"})
        return JSONResponse(quote.to_json())

    return router
