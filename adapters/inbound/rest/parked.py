"""The admin API's parked outbox rows: rows the broker refused for good (too large, invalid),
which wait for an operator to retry or drop them. Same bearer token as the rest of /admin."""

# No `from __future__ import annotations`: FastAPI reads these signatures at run time.
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from adapters.inbound.rest.inputs import refuse_unknown_query
from adapters.inbound.rest.problems import problem_responses
from adapters.inbound.rest.security import admin_guard
from ports.control import Control


class ParkedOut(BaseModel):
    """A parked row: the store it waits in (named by its first `service`), its `seq` there, the
    message (not its payload, which may be what was too large: `payload_bytes` measures it), why
    the broker refused it and when. The later rows of its `key` wait behind it."""

    service: str
    seq: int
    event_id: str
    key: str
    type: str
    topic: str
    reason: str
    parked_at: datetime
    created_at: datetime
    payload_bytes: int


Seq = Annotated[int, Path(ge=1, le=2**63 - 1, description="the row's seq in its store")]
Service = Annotated[str | None, Query(max_length=100, description=(
    "the service whose store holds the row; needed only when several stores have this seq parked"))]
NOT_PARKED = {404: {**problem_responses(404)[404], "description": "No row with this seq is parked"}}


def parked_router(control: Control, token: str) -> APIRouter:
    router = APIRouter(prefix="/admin/outbox/parked", tags=["admin"], dependencies=[Depends(admin_guard(token))],
                       responses=problem_responses(401))

    @router.get("", response_model=list[ParkedOut], summary="Outbox rows the broker refused, waiting for an operator",
                responses=problem_responses(503), dependencies=[Depends(refuse_unknown_query)])
    async def list_parked() -> JSONResponse:
        return JSONResponse([row.to_json() for row in await run_in_threadpool(control.parked_rows)])

    @router.post("/{seq}/retry", response_model=ParkedOut,
                 summary="Publish a parked row again (then the rows of its key that waited behind it)",
                 responses={**NOT_PARKED, **problem_responses(422, 503)}, dependencies=[Depends(refuse_unknown_query)])
    async def retry_parked(seq: Seq, service: Service = None) -> JSONResponse:
        return JSONResponse((await run_in_threadpool(control.retry_parked, seq, service)).to_json())

    @router.delete("/{seq}", response_model=ParkedOut,
                   summary="Drop a parked row for good: it is never published; the rows of its key go on",
                   responses={**NOT_PARKED, **problem_responses(422, 503)},
                   dependencies=[Depends(refuse_unknown_query)])
    async def drop_parked(seq: Seq, service: Service = None) -> JSONResponse:
        return JSONResponse((await run_in_threadpool(control.drop_parked, seq, service)).to_json())

    return router
