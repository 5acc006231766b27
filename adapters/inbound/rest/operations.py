"""Liveness, readiness and metrics: what orchestrators and Prometheus poll."""

# No `from __future__ import annotations`: FastAPI reads these signatures at run time, and
# their Annotated dependencies refer to local variables a string annotation cannot resolve.
import logging

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse

from adapters.inbound.rest.metrics import CONTENT_TYPE, Metrics
from adapters.inbound.rest.problems import ProblemResponse, problem, problem_responses
from adapters.inbound.rest.representations import HealthOut, ReadyOut
from core.kernel.errors import DomainError, Unavailable
from ports.control import Control, OutboxStatus

log = logging.getLogger("orderhex.rest")


def operations_router(control: Control, metrics: Metrics, retry_after_seconds: int) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/health", response_model=HealthOut, summary="The process is alive")
    async def health() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @router.get("/ready", response_model=ReadyOut, summary="Storage and broker answer",
                responses=problem_responses(503))
    async def ready(request: Request) -> JSONResponse | ProblemResponse:
        checks = await run_in_threadpool(control.check_health)
        if all(state == "ok" for state in checks.values()):
            return JSONResponse({"status": "ready", "checks": checks})
        down = ", ".join(f"{name}: {state}" for name, state in checks.items() if state != "ok")
        return problem(503, f"not ready: {down}", kind="not-ready", request=request, checks=checks,
                       headers={"Retry-After": str(retry_after_seconds)})

    @router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics",
                responses={200: {"content": {CONTENT_TYPE.split(";")[0]: {"schema": {"type": "string"}}}}})
    async def prometheus() -> PlainTextResponse:
        outbox: OutboxStatus | None
        try:
            outbox = await run_in_threadpool(control.outbox_status)
        except (DomainError, Unavailable) as exc:
            # A scrape must still answer when the store is down; orderhex_outbox_up says so.
            log.warning("metrics: outbox unreadable: %s", exc)
            outbox = None
        return PlainTextResponse(metrics.render(outbox), media_type=CONTENT_TYPE)

    return router
