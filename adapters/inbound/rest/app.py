"""The FastAPI application factory: one app over the Ordering and Control ports."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.inbound.rest import problems
from adapters.inbound.rest.admin import admin_router
from adapters.inbound.rest.checkout import checkout_router
from adapters.inbound.rest.faults import ServiceDoor
from adapters.inbound.rest.inventory import inventory_router
from adapters.inbound.rest.metrics import Metrics, RequestMetrics
from adapters.inbound.rest.operations import operations_router
from adapters.inbound.rest.orders import orders_router
from adapters.inbound.rest.overview import overview_router
from adapters.inbound.rest.parked import parked_router
from adapters.inbound.rest.payments import payments_router
from adapters.inbound.rest.resilience import resilience_router
from adapters.inbound.rest.sagas import sagas_router
from adapters.inbound.rest.security import UNSUPPORTED_MEDIA_TYPE_RESPONSE, BodyLimit, JsonBodiesOnly
from adapters.inbound.rest.shipping import shipping_router
from ports.control import Control
from ports.inventory import Inventory
from ports.orders import Ordering
from ports.payments import Payments
from ports.sagas import SagaOperations
from ports.shipping import Shipping


@dataclass(frozen=True, kw_only=True)
class RestSettings:
    """What the REST app is configured with. `admin_token` must be set: the admin API never runs open."""

    admin_token: str
    api_key: str = ""
    max_body_bytes: int = 64 * 1024
    retry_after_seconds: int = 5
    sse_heartbeat_seconds: float = 15.0
    # Admin event streams open at once (one more gets 503), and events replayed to a new stream.
    max_event_streams: int = 50
    event_replay: int = 1000


DESCRIPTION = """Orders over HTTP, plus health, metrics and the admin API.

* Bodies are the one wire format every door of orderhex speaks (CLI, HTTP, Kafka): money is a
  decimal string with at most the currency's decimals ("9.99" EUR, "500" JPY), never a float.
* `POST /orders` is idempotent with an `Idempotency-Key` header: the same key and body again
  answer 200 with the first order; the same key with another body, 409.
* Every error is an RFC 9457 `application/problem+json` document; a 422 lists every bad field
  in `errors`.
* HEAD is answered on every GET route, without a body.
"""
TAGS = [
    {"name": "orders", "description": "Place, read, list and move orders along (approve, reject, cancel, ship)."},
    {"name": "operations", "description": "Liveness, readiness and Prometheus metrics."},
    {"name": "admin", "description": "Ports and adapters, the outbox and relay, the event feed. "
                                     "Every route needs `Authorization: Bearer <admin token>`."},
]


def operation_id(route: APIRoute) -> str:
    """A route's OpenAPI operationId: its function's name (`place_order`, `get_order`), which stays
    put when a path or method changes, so generated clients keep their method names."""
    return route.name


class HeadAsGet:
    """ASGI middleware: HEAD is answered like GET without a body (RFC 9110 9.3.2) on every GET
    route: same status and headers, Content-Length included. An endless stream (the event feed)
    is stopped once its headers are out. The scope itself says GET while the app routes the
    request and HEAD again from the response's start, so the server and the middleware around
    (metrics, access log) see the request as it came."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        ended = False
        scope["method"] = "GET"
        with anyio.CancelScope() as stream:

            async def headers_only(message: Message) -> None:
                nonlocal ended
                if message["type"] == "http.response.start":
                    scope["method"] = "HEAD"  # the server sees a HEAD response go out (no body)
                    await send(message)
                elif message["type"] == "http.response.body" and not ended:
                    ended = True
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                    if message.get("more_body", False):
                        stream.cancel()

            try:
                await self.app(scope, receive, headers_only)
            finally:
                scope["method"] = "HEAD"  # what the request was, for the access log and metrics


def create_app(ordering: Ordering | None, control: Control, settings: RestSettings,
               stopping: threading.Event | None = None, *, inventory: Inventory | None = None,
               payments: Payments | None = None, shipping: Shipping | None = None, overviews: Any = None,
               checkout: Any = None, resilience: Any = None, fault_door: Callable[[str], Any] | None = None,
               fault_hold_seconds: float = 10.0, board: Any = None, sagas: SagaOperations | None = None) -> FastAPI:
    """One app over the ports of the services this process runs (a service given None has no
    routes here). `stopping`, set by the server on SIGTERM, ends open event streams so shutdown is
    not held up."""
    stopping = stopping or threading.Event()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        unsubscribe = control.subscribe(metrics.on_feed_event)
        try:
            yield
        finally:
            stopping.set()
            unsubscribe()

    # /docs (Swagger UI) and /redoc are served with their scripts and styles from the
    # fastapi-offline wheel, not a CDN: the documentation works on a machine without internet.
    api = FastAPIOffline(title="orderhex", version="0.1.0", lifespan=lifespan, description=DESCRIPTION,
                         generate_unique_id_function=operation_id)
    if ordering is not None:
        api.include_router(orders_router(ordering, settings.api_key))
    if inventory is not None:
        api.include_router(inventory_router(inventory, settings.api_key))
    if payments is not None:
        api.include_router(payments_router(payments, settings.api_key))
    if shipping is not None:
        api.include_router(shipping_router(shipping, settings.api_key))
    # Calls between services (issue 12): the overview, the checkout, breakers and faults.
    if overviews is not None:
        api.include_router(overview_router(overviews, settings.api_key))
    if checkout is not None:
        api.include_router(checkout_router(checkout, settings.api_key))
    if resilience is not None:
        api.include_router(resilience_router(resilience, settings.admin_token))
    if sagas is not None:
        api.include_router(sagas_router(sagas, settings.admin_token))
    if board is not None:
        metrics.watch_breakers(lambda: [b.snapshot() for b in board.all()])
    api.include_router(operations_router(control, metrics, settings.retry_after_seconds))
    api.include_router(admin_router(control, settings.admin_token, stopping, settings.sse_heartbeat_seconds,
                                    max_streams=settings.max_event_streams, replay=settings.event_replay))
    api.include_router(parked_router(control, settings.admin_token))
    problems.install(api, settings.retry_after_seconds)
    api.add_middleware(HeadAsGet)
    api.add_middleware(ServiceDoor, decide=fault_door or _no_fault, hold_seconds=fault_hold_seconds)
    api.add_middleware(JsonBodiesOnly)
    api.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    api.add_middleware(RequestMetrics, metrics=metrics)

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            schema = get_openapi(title=api.title, version=api.version, description=api.description,
                                 routes=api.routes, tags=TAGS)
            api.openapi_schema = _with_415_on_writes(problems.as_problem_media_type(schema))
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
    return api


def _no_fault(service: str) -> None:
    return None


def _with_415_on_writes(schema: dict[str, Any]) -> dict[str, Any]:
    """Every write answers 415 to a body that is not JSON (JsonBodiesOnly): say so on each."""
    for path in schema.get("paths", {}).values():
        for method, operation in path.items():
            if method in ("post", "put", "patch", "delete"):
                operation.setdefault("responses", {})["415"] = UNSUPPORTED_MEDIA_TYPE_RESPONSE
    return schema
