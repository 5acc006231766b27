"""The FastAPI application factory: one app over the Ordering and Control ports."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from adapters.inbound.rest import problems
from adapters.inbound.rest.admin import admin_router
from adapters.inbound.rest.metrics import Metrics, RequestMetrics
from adapters.inbound.rest.operations import operations_router
from adapters.inbound.rest.orders import orders_router
from adapters.inbound.rest.security import BodyLimit
from ports.control import Control
from ports.orders import Ordering


@dataclass(frozen=True, kw_only=True)
class RestSettings:
    """What the REST app is configured with. `admin_token` must be set: the admin API never runs open."""

    admin_token: str
    api_key: str = ""
    max_body_bytes: int = 64 * 1024
    retry_after_seconds: int = 5
    sse_heartbeat_seconds: float = 15.0


def create_app(ordering: Ordering, control: Control, settings: RestSettings,
               stopping: threading.Event | None = None) -> FastAPI:
    """`stopping`, set by the server on SIGTERM, ends open event streams so shutdown is not held up."""
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

    api = FastAPI(title="orderhex", version="0.1.0", lifespan=lifespan, redoc_url=None,
                  description="Orders over HTTP, plus health, metrics and the admin API. "
                              "Errors are RFC 9457 problem documents.")
    api.include_router(orders_router(ordering, settings.api_key))
    api.include_router(operations_router(control, metrics, settings.retry_after_seconds))
    api.include_router(admin_router(control, settings.admin_token, stopping, settings.sse_heartbeat_seconds))
    problems.install(api, settings.retry_after_seconds)
    api.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    api.add_middleware(RequestMetrics, metrics=metrics)

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            schema = get_openapi(title=api.title, version=api.version, description=api.description,
                                 routes=api.routes)
            api.openapi_schema = problems.as_problem_media_type(schema)
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
    return api
