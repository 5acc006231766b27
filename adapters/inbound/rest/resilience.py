"""The admin API over the Resilience port: circuit breakers (list, force, reset, reconfigure) and
injected faults per service. Every route needs the admin bearer token."""

# No `from __future__ import annotations`: FastAPI reads these signatures at run time.
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from adapters.inbound.rest.inputs import read_json
from adapters.inbound.rest.problems import problem_responses
from adapters.inbound.rest.representations import json_body
from adapters.inbound.rest.security import admin_guard
from core.kernel.errors import ValidationError
from ports.resilience import Resilience

ACTIONS = ("force-open", "force-closed", "metrics-only", "reset")
REASON_SCHEMA: dict[str, Any] = {"type": "object", "required": ["reason"], "additionalProperties": False,
                                 "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 500}},
                                 "example": {"reason": "payments is being migrated"}}
FAULT_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "properties": {"error_rate": {"type": "number", "minimum": 0, "maximum": 1},
                   "latency": {"type": "number", "minimum": 0, "description": "seconds added to each call"},
                   "timeout_rate": {"type": "number", "minimum": 0, "maximum": 1},
                   "drop_reply_rate": {"type": "number", "minimum": 0, "maximum": 1},
                   "duplicate_reply_rate": {"type": "number", "minimum": 0, "maximum": 1}},
    "example": {"error_rate": 0.5, "latency": 2.0}}
CONFIG_SCHEMA: dict[str, Any] = {"type": "object", "description": "BreakerConfig fields to change",
                                 "example": {"failure_rate_threshold": 0.5, "minimum_calls": 5}}


def _reason(data: Any) -> str:
    if not isinstance(data, dict) or set(data) != {"reason"} or not isinstance(data["reason"], str) \
            or not data["reason"].strip():
        raise ValidationError("reason", 'the body must be {"reason": "<why>"}: say why, for whoever looks next')
    return str(data["reason"])


def _object(data: Any, field: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValidationError(field, "must be a JSON object")
    return data


def resilience_router(resilience: Resilience, token: str) -> APIRouter:
    router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(admin_guard(token))],
                       responses=problem_responses(401))

    @router.get("/breakers", summary="Every circuit breaker of this process, with its state and window")
    async def list_breakers() -> JSONResponse:
        return JSONResponse(await run_in_threadpool(resilience.breakers))

    def endpoint(method: Any) -> Any:
        async def act(name: str, request: Request) -> JSONResponse:
            reason = _reason(await read_json(request))
            return JSONResponse(await run_in_threadpool(method, name, reason))

        return act

    for action in ACTIONS:
        act = endpoint(getattr(resilience, action.replace("-", "_")))
        router.add_api_route(f"/breakers/{{name}}/{action}", act, methods=["POST"], name=action.replace("-", "_"),
                             summary=f"{action.replace('-', ' ').capitalize()} a breaker (with a reason)",
                             responses=problem_responses(404, 413, 422), openapi_extra=json_body(REASON_SCHEMA))

    @router.put("/breakers/{name}/config", summary="Change a breaker's thresholds, keeping its window and state",
                responses=problem_responses(404, 413, 422), openapi_extra=json_body(CONFIG_SCHEMA))
    async def reconfigure_breaker(name: str, request: Request) -> JSONResponse:
        config = _object(await read_json(request), "body")
        return JSONResponse(await run_in_threadpool(resilience.reconfigure, name, config))

    @router.get("/faults", summary="The fault setting of each service that has one")
    async def list_faults() -> JSONResponse:
        return JSONResponse(await run_in_threadpool(resilience.faults))

    @router.put("/faults/{service}", summary="Inject faults into a service's incoming calls",
                description="Refused (422) unless the server runs with faults.enabled = true.",
                responses=problem_responses(413, 422), openapi_extra=json_body(FAULT_SCHEMA))
    async def set_fault(service: str, request: Request) -> JSONResponse:
        settings = _object(await read_json(request), "body")
        return JSONResponse(await run_in_threadpool(resilience.set_fault, service, settings))

    @router.delete("/faults/{service}", status_code=204, summary="Stop injecting faults into a service")
    async def clear_fault(service: str) -> Response:
        await run_in_threadpool(resilience.clear_fault, service)
        return Response(status_code=204)

    return router
