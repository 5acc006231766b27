"""The REST app over a real Application (in-memory adapters), driven through httpx with lifespan,
and the same app under a real uvicorn on a free loopback port for streaming tests."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

import bootstrap
from adapters.inbound.rest.app import RestSettings, create_app
from tests.served import free_port

ADMIN_TOKEN = "test-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ORDER = {"customer_id": "c-1", "currency": "EUR", "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price": "9.99"}]}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_application(data_dir: Path, **overrides: Any) -> bootstrap.Application:
    # Choreography unless asked: these tests move orders by hand (cancel, approve, ship), which a
    # running place-order saga would lock (tests/integration/test_saga_rest.py tests that lock).
    return bootstrap.Application(bootstrap.load_config(env={}, overrides={
        "storage.adapter": "memory", "messaging.adapter": "memory", "data_dir": str(data_dir),
        "saga.mode": "manual", **overrides,
    }))


@pytest.fixture
def application(tmp_path: Path) -> Iterator[bootstrap.Application]:
    app = make_application(tmp_path)
    yield app
    app.close()


def make_api(application: bootstrap.Application, **settings: Any) -> FastAPI:
    return create_app(application.ordering, application.control, RestSettings(admin_token=ADMIN_TOKEN, **settings),
                      inventory=application.inventory, payments=application.payments,
                      shipping=application.shipping)


async def open_client(api: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(api) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://orderhex.test") as client:
            yield client


@pytest.fixture
async def client(application: bootstrap.Application) -> AsyncIterator[httpx.AsyncClient]:
    async for c in open_client(make_api(application)):
        yield c




class LiveServer:
    """A uvicorn serving `api` in a thread on 127.0.0.1, for what httpx's ASGI transport cannot do
    (it buffers whole responses, so an endless event stream would never return)."""

    def __init__(self, api: FastAPI) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(api, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on", timeout_graceful_shutdown=5))
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve())

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start within 10 s")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
