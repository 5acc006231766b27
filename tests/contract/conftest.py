"""Fixtures that hand each contract suite every adapter bootstrap registers for its port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import bootstrap
from adapters.outbound.memory.feed import RingBufferFeed
from ports.messaging import Messaging
from ports.storage import Storage

# Adapters that need a real server: adapter name -> (pytest marker, name of a fixture that
# returns the config overrides for a fresh, empty store or broker namespace).
SERVER_FIXTURES: dict[str, tuple[str, str]] = {
    "kafka": ("kafka", "kafka_config"),
    "postgres": ("postgres", "postgres_overrides"),
}

ORDER_MODES = ("state", "events")


def _params(adapters: dict[str, Any]) -> list[Any]:
    return [
        pytest.param(name, marks=getattr(pytest.mark, SERVER_FIXTURES[name][0])) if name in SERVER_FIXTURES else name
        for name in sorted(adapters)
    ]


def _overrides(request: pytest.FixtureRequest, adapter: str) -> dict[str, Any]:
    if adapter not in SERVER_FIXTURES:
        return {}
    overrides: dict[str, Any] = request.getfixturevalue(SERVER_FIXTURES[adapter][1])
    return overrides


@pytest.fixture(params=_params(bootstrap.STORAGE_ADAPTERS))
def storage_adapter(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=ORDER_MODES)
def orders_mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def open_storage(request: pytest.FixtureRequest, adapter: str, data_dir: Path, mode: str = "state") -> Storage:
    config = bootstrap.load_config(env={}, overrides={
        "storage.adapter": adapter, "storage.orders": mode, "data_dir": str(data_dir),
        "storage.snapshot_every": 3, **_overrides(request, adapter),
    })
    storage: Storage = bootstrap.STORAGE_ADAPTERS[adapter](config, RingBufferFeed(100))
    return storage


@pytest.fixture
def storage(
    request: pytest.FixtureRequest, storage_adapter: str, orders_mode: str, tmp_path: Path
) -> Iterator[Storage]:
    """A fresh, empty store of every registered kind, in both ways of keeping orders."""
    store = open_storage(request, storage_adapter, tmp_path, orders_mode)
    yield store
    store.close()


@pytest.fixture(params=_params(bootstrap.MESSAGING_ADAPTERS))
def messaging_adapter(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def messaging(request: pytest.FixtureRequest, messaging_adapter: str, tmp_path: Path) -> Iterator[Messaging]:
    config = bootstrap.load_config(env={}, overrides={
        "messaging.adapter": messaging_adapter, "data_dir": str(tmp_path), **_overrides(request, messaging_adapter),
    })
    broker: Messaging = bootstrap.MESSAGING_ADAPTERS[messaging_adapter](config, RingBufferFeed(100))
    yield broker
    broker.close()
