"""GET /orders/{order_id}/overview: the order with its stock, payment and shipment, read at once."""

# No `from __future__ import annotations`: FastAPI reads these signatures at run time.
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from adapters.inbound.rest.inputs import refuse_unknown_query
from adapters.inbound.rest.problems import problem, problem_responses
from adapters.inbound.rest.security import api_key_guard
from core.orders.overview import PARTS, OrderOverviews, PartsMissing, parse_require

PART_BLOCK = {"type": "object", "properties": {
    "status": {"type": "string", "enum": ["ok", "timeout", "open_circuit", "error"]},
    "latency_ms": {"type": "number"}, "source": {"type": "string", "enum": ["live", "last_known", "none"]},
    "age_seconds": {"type": "number"}, "error": {"type": "string"}}}
OVERVIEW_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"description": "The overview; `parts` says how each part "
                                                                           "was read", "content": {"application/json": {
    "schema": {"type": "object", "properties": {"order_id": {"type": "string"}, "complete": {"type": "boolean"},
                                                "parts": {"type": "object", "additionalProperties": PART_BLOCK}}}}}}}


def overview_router(overviews: OrderOverviews, api_key: str) -> APIRouter:
    router = APIRouter(tags=["orders"], dependencies=[Depends(api_key_guard(api_key))] if api_key else [])
    auth = (401,) if api_key else ()

    @router.get("/orders/{order_id}/overview", summary="An order with its stock, payment and shipment",
                description="Reads the order and asks inventory, payments and shipping at once, each part with a "
                            "time limit, under one deadline. `parts` says, per part, whether it was answered live "
                            "(ok) or not (timeout, open_circuit, error), its latency, and when it was not, its last "
                            "known value and age. A part named in `require` that is not live makes the answer a "
                            "503 naming it; other parts may be missing.",
                responses={**OVERVIEW_RESPONSE, **problem_responses(*auth, 404, 422, 503)},
                dependencies=[Depends(refuse_unknown_query)])
    async def order_overview(order_id: str, require: Annotated[str | None, Query(
            description=f"comma-separated parts that must be live: {', '.join(PARTS)}", max_length=200)] = None,
    ) -> JSONResponse:
        required = parse_require(require)
        try:
            overview = await run_in_threadpool(overviews.overview, order_id, required)
        except PartsMissing as exc:
            return problem(503, str(exc), kind="parts-missing", missing=sorted(exc.missing),
                           parts=exc.overview.to_json()["parts"], headers={"Retry-After": "5"})
        return JSONResponse(overview.to_json())

    return router
