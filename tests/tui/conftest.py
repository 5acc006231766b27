"""The dashboard over a real in-memory Application: deterministic clock and ids, headless Textual."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

import bootstrap
from core.orders.wire import place_order_from_json
from tui.app import DashboardApp

# Choreography unless a test asks for the saga: these tests approve, cancel and ship pending orders
# by hand, which the place-order saga's semantic lock refuses while it runs (tests/tui/test_sagas_panel.py
# runs orchestrated).
DETERMINISTIC = {"storage.adapter": "memory", "messaging.adapter": "memory", "clock": "stepping",
                 "ids": "sequential", "saga.mode": "manual"}


def make_application(data_dir: Path, **overrides: Any) -> bootstrap.Application:
    return bootstrap.Application(bootstrap.load_config(env={}, overrides={
        **DETERMINISTIC, "data_dir": str(data_dir), **overrides}))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def application(tmp_path: Path) -> Iterator[bootstrap.Application]:
    app = make_application(tmp_path)
    yield app
    if app.relay is not None:
        app.relay.stop()
    app.close()


@pytest.fixture
def orchestrated(tmp_path: Path) -> Iterator[bootstrap.Application]:
    """An application whose orders run the place-order saga (the default outside these tests)."""
    app = make_application(tmp_path, **{"saga.mode": "orchestration"})
    yield app
    if app.relay is not None:
        app.relay.stop()
    app.close()


@pytest.fixture
def with_relay(application: bootstrap.Application) -> bootstrap.Application:
    bootstrap.start_relay(application)
    return application


def dashboard(application: bootstrap.Application, **kwargs: Any) -> DashboardApp:
    """The dashboard as `orderhex dashboard` opens it in-process: with the services' ports too."""
    kwargs.setdefault("poll_interval", None)
    kwargs.setdefault("load_seed", 7)
    for name in ("inventory", "payments", "shipping"):
        kwargs.setdefault(name, getattr(application, name))
    return DashboardApp(application.ordering, application.control, **kwargs)


def place(application: bootstrap.Application, customer: str = "c-1", *lines: tuple[str, int, str]) -> str:
    body = {"customer_id": customer, "currency": "EUR",
            "lines": [{"sku": s, "quantity": q, "unit_price": p} for s, q, p in lines or [("SKU-1", 2, "9.99")]]}
    return application.ordering.send(place_order_from_json(body)).order_id


async def until(pilot: Pilot[Any], condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Let the app run until `condition()` holds; fail after `timeout` seconds (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await pilot.pause(0.05)
    await asyncio.sleep(0)
