"""The admin API over the Control port: ports and adapters, the services, the outbox and relay, and the
EventFeed as Server-Sent Events. Every route needs the admin bearer token.

A feed's seqs start again at 1 when the server restarts, so an event's SSE id is qualified by
the boot id of the server that sent it (`BOOT:SEQ`): a client resuming with another server's
id is sent everything this server's feed holds, not the events after a seq that means
nothing here."""

# No `from __future__ import annotations`: FastAPI reads these signatures at run time, and
# their Annotated dependencies refer to local variables a string annotation cannot resolve.
import re
import secrets
import threading
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse

from adapters.inbound.rest.event_stream import FeedFanout, FeedResponse, feed_stream
from adapters.inbound.rest.inputs import read_json, refuse_unknown_query
from adapters.inbound.rest.problems import problem_responses
from adapters.inbound.rest.representations import (
    SWITCH_SCHEMA,
    OutboxOut,
    OutboxRowOut,
    PortOut,
    RebuiltOut,
    ServiceOut,
    json_body,
    outbox_json,
    outbox_row_json,
    port_json,
)
from adapters.inbound.rest.security import admin_guard
from core.kernel.errors import ValidationError
from ports.control import Control

MAX_OUTBOX_ROWS = 1000
# An SSE id this server sent ("BOOT:SEQ"), or a bare seq of this server's feed.
EVENT_ID = re.compile(r"^(?:([0-9a-f]{1,64}):)?([0-9]{1,18})$")


def resume_after(last_event_id: str | None, after: int | None, boot_id: str) -> int:
    """The seq to resume after: the id's seq if this server sent it, 0 if another boot did."""
    if last_event_id is None:
        return after or 0
    match = EVENT_ID.match(last_event_id)
    if match is None:
        raise ValidationError("header.Last-Event-ID", f"must be BOOT:SEQ as sent in an event's id, got "
                                                      f"{last_event_id[:80]!r}")
    boot, seq = match.groups()
    return int(seq) if boot in (None, boot_id) else 0


def admin_router(control: Control, token: str, stopping: threading.Event, heartbeat_seconds: float, *,
                 max_streams: int = 50, replay: int = 1000) -> APIRouter:
    router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(admin_guard(token))],
                       responses=problem_responses(401))
    # One per server start: the router is built once per app, the app once per process.
    boot_id = secrets.token_hex(8)
    fanout = FeedFanout(control, boot_id, stopping, max_streams=max_streams, replay=replay)

    @router.get("/ports", response_model=list[PortOut], summary="Ports with their active and available adapters")
    async def list_ports() -> JSONResponse:
        return JSONResponse([port_json(p) for p in control.ports()])

    @router.get("/services", response_model=list[ServiceOut],
                summary="Each service: its process, its store's adapter and health, its outbox backlog")
    async def list_services() -> JSONResponse:
        return JSONResponse([s.to_json() for s in await run_in_threadpool(control.services)])

    @router.post("/ports/{port}/switch", response_model=PortOut, summary="Switch the adapter serving a port",
                 responses=problem_responses(413, 422, 503), openapi_extra=json_body(SWITCH_SCHEMA))
    async def switch_port(port: str, request: Request) -> JSONResponse:
        data = await read_json(request)
        if not isinstance(data, dict) or set(data) != {"adapter"} or not isinstance(data["adapter"], str):
            raise ValidationError("adapter", 'the body must be {"adapter": "<name>"}')
        info = await run_in_threadpool(control.switch, port, data["adapter"])
        return JSONResponse(port_json(info))

    @router.get("/outbox", response_model=OutboxOut, summary="Outbox backlog, lag and relay state",
                responses=problem_responses(503))
    async def outbox() -> JSONResponse:
        return JSONResponse(outbox_json(await run_in_threadpool(control.outbox_status)))

    @router.get("/outbox/recent", response_model=list[OutboxRowOut], summary="The newest outbox rows, newest first",
                responses=problem_responses(422, 503), dependencies=[Depends(refuse_unknown_query)])
    async def recent_outbox(limit: Annotated[int, Query(ge=1, le=MAX_OUTBOX_ROWS)] = 50) -> JSONResponse:
        rows = await run_in_threadpool(control.recent_outbox, limit)
        return JSONResponse([outbox_row_json(r) for r in rows])

    @router.post("/relay/pause", response_model=OutboxOut, summary="Stop publishing (rows stay in the outbox)",
                 responses=problem_responses(422, 503))
    async def pause_relay() -> JSONResponse:
        control.pause_relay()
        return JSONResponse(outbox_json(await run_in_threadpool(control.outbox_status)))

    @router.post("/relay/resume", response_model=OutboxOut, summary="Publish again",
                 responses=problem_responses(422, 503))
    async def resume_relay() -> JSONResponse:
        control.resume_relay()
        return JSONResponse(outbox_json(await run_in_threadpool(control.outbox_status)))

    @router.post("/projections/rebuild", response_model=RebuiltOut,
                 summary="Recompute the CQRS read model from the event store or the orders",
                 responses=problem_responses(503))
    async def rebuild_projections() -> JSONResponse:
        return JSONResponse({"rebuilt_from": await run_in_threadpool(control.rebuild_projections)})

    @router.get(
        "/events", summary="The EventFeed as Server-Sent Events",
        description=f"Replays the newest events held (at most {replay}; older ones are reported as a `gap` event "
                    f"to a client resuming before them), then follows the feed live. At most {max_streams} streams "
                    "are open at once: one more is refused with 503 and `Retry-After`.",
        response_class=StreamingResponse, dependencies=[Depends(refuse_unknown_query)],
        responses={200: {"description": "one SSE event per feed event; `id` is BOOT:SEQ, its seq qualified by "
                                        "this server's boot id (a restarted server numbers its feed from 1 again)",
                         "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                   **problem_responses(422, 503)},
    )
    async def events(
        after: Annotated[int | None, Query(ge=0, description="start after this seq of this server's feed")] = None,
        last_event_id: Annotated[str | None, Header(
            alias="Last-Event-ID", max_length=100,
            description="resume after this event id (what EventSource sends); an id of another boot of the "
                        "server starts from the oldest event held")] = None,
    ) -> StreamingResponse:
        start = resume_after(last_event_id, after, boot_id)
        subscription = fanout.open()
        return FeedResponse(feed_stream(fanout, subscription, start, stopping, heartbeat_seconds), subscription,
                            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    return router

