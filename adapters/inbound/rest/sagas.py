"""The admin API over the SagaOperations port: list sagas, read one with its timeline, act on it
(retry, skip, compensate, pause, resume) and draw a definition as Mermaid. Every route needs the
admin bearer token. An action the saga's state refuses answers 409 (IllegalTransition)."""

# No `from __future__ import annotations`: FastAPI reads these signatures at run time.
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse

from adapters.inbound.rest.inputs import read_json, refuse_unknown_query
from adapters.inbound.rest.problems import problem_responses
from adapters.inbound.rest.representations import json_body
from adapters.inbound.rest.security import admin_guard
from core.kernel.errors import InvalidFields, ValidationError
from ports.sagas import OPERATOR_ACTIONS, SagaOperations

MAX_PAGE = 1000
ACTION_BODY: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "properties": {"step": {"type": ["string", "null"], "maxLength": 100,
                            "description": "the step to act on (retry and skip need one)"},
                   "reason": {"type": ["string", "null"], "maxLength": 500,
                              "description": "why, shown in the saga's history (skip needs one)"}},
    "example": {"step": "authorize-payment", "reason": "payments confirmed it by phone"}}
SUMMARIES = {
    "retry": "Try a step (or its undo) again now, with a fresh retry budget",
    "skip": "Give up on a step (or its undo) and go on; shown as skipped, with the reason",
    "compensate": "Stop going forward and undo what is done (only before the pivot)",
    "pause": "Send nothing and act on no timer until resumed; replies wait",
    "resume": "Handle what arrived while paused, then go on",
}
SagaId = Annotated[str, Path(max_length=200, description="the saga's id (the order's id for place-order)")]


def action_input(data: Any) -> tuple[str | None, str | None]:
    """(step, reason) from an action's body; every bad field named at once."""
    if data is None:
        return None, None
    if not isinstance(data, dict):
        raise ValidationError("body", 'must be a JSON object like {"step": "...", "reason": "..."}')
    errors = [ValidationError(name, "unknown field; allowed: step, reason") for name in sorted(set(data) - {"step",
                                                                                                          "reason"})]
    for name in ("step", "reason"):
        if data.get(name) is not None and not isinstance(data[name], str):
            errors.append(ValidationError(name, f"must be a string or null, got {type(data[name]).__name__}"))
    if errors:
        raise errors[0] if len(errors) == 1 else InvalidFields(errors)
    return data.get("step"), data.get("reason")


def sagas_router(sagas: SagaOperations, token: str) -> APIRouter:
    router = APIRouter(prefix="/admin/sagas", tags=["admin"], dependencies=[Depends(admin_guard(token))],
                       responses=problem_responses(401))

    @router.get("", summary="Sagas, newest start first, of one sub-state when given",
                responses=problem_responses(422, 503), dependencies=[Depends(refuse_unknown_query)])
    async def list_sagas(
        state: Annotated[str | None, Query(max_length=40, description="running, waiting, retrying, compensating, "
                                                                      "paused, stuck, completed or compensated")
                         ] = None,
        after: Annotated[str | None, Query(max_length=200, description="the last saga id of the previous page")
                         ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    ) -> JSONResponse:
        views = await run_in_threadpool(sagas.sagas, state, after, limit)
        return JSONResponse([view.to_json() for view in views])

    @router.get("/counts", summary="How many sagas are in each sub-state", responses=problem_responses(503))
    async def count_sagas() -> JSONResponse:
        return JSONResponse(await run_in_threadpool(sagas.counts))

    @router.get("/graph/{definition}", response_class=PlainTextResponse,
                summary="A saga definition as a Mermaid flowchart", responses=problem_responses(404),
                dependencies=[Depends(refuse_unknown_query)])
    async def saga_graph(definition: Annotated[str, Path(max_length=100)]) -> PlainTextResponse:
        return PlainTextResponse(sagas.graph(definition), media_type="text/plain; charset=utf-8")

    @router.get("/{saga_id}", summary="One saga: its steps, its timeline and what is still to run",
                responses=problem_responses(404, 503), dependencies=[Depends(refuse_unknown_query)])
    async def get_saga(saga_id: SagaId) -> JSONResponse:
        return JSONResponse((await run_in_threadpool(sagas.saga, saga_id)).to_json())

    def endpoint(action: str) -> Any:
        async def act(saga_id: SagaId, request: Request) -> JSONResponse:
            raw = await request.body()
            step, reason = action_input(await read_json(request) if raw.strip() else None)
            detail = await run_in_threadpool(sagas.act, saga_id, action, step, reason)
            return JSONResponse(detail.to_json())

        return act

    for action in OPERATOR_ACTIONS:
        router.add_api_route(f"/{{saga_id}}/{action}", endpoint(action), methods=["POST"], name=f"{action}_saga",
                             summary=SUMMARIES[action], responses=problem_responses(404, 409, 413, 422, 503),
                             dependencies=[Depends(refuse_unknown_query)],
                             openapi_extra={"requestBody": {**json_body(ACTION_BODY)["requestBody"],
                                                            "required": False}})
    return router
