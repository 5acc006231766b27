"""The Control port's `services()` over a real Application: the contract its docstring states."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import bootstrap
from core.kernel.errors import Unavailable
from core.runtime.operations import Operations
from ports.control import ServiceStatus
from tests.unit.app_fixtures import memory_app, place_cmd


def test_services_lists_every_running_service_with_its_process_store_and_health() -> None:
    app = memory_app()
    try:
        statuses = app.control.services()
    finally:
        app.close()
    assert [s.name for s in statuses] == list(bootstrap.CONTEXTS)
    for status in statuses:
        assert (status.pid, status.slot, status.adapter, status.health) == (
            os.getpid(), f"{status.name}.storage", "memory", "ok")


def test_a_pending_outbox_row_is_its_own_services_backlog() -> None:
    app = memory_app()
    try:
        app.ordering.send(place_cmd())
        statuses = {s.name: s for s in app.control.services()}
    finally:
        app.close()
    assert statuses["orders"].outbox_pending == 1
    assert statuses["orders"].outbox_lag_seconds is not None and statuses["orders"].outbox_lag_seconds >= 0
    assert (statuses["payments"].outbox_pending, statuses["payments"].outbox_lag_seconds) == (0, None)


def test_consumer_lag_is_not_measured_and_says_so_with_none() -> None:
    app = memory_app()
    try:
        assert {s.consumer_lag for s in app.control.services()} == {None}
    finally:
        app.close()


def test_a_switched_store_shows_its_new_adapter(tmp_path: Path) -> None:
    app = memory_app(data_dir=str(tmp_path))
    try:
        app.control.switch("inventory.storage", "file")
        statuses = {s.name: s for s in app.control.services()}
    finally:
        app.close()
    assert (statuses["inventory"].adapter, statuses["orders"].adapter) == ("file", "memory")


def test_services_sharing_one_store_name_its_one_slot() -> None:
    app = memory_app(**{"storage.layout": "shared", "storage.orders": "state"})
    try:
        assert {s.slot for s in app.control.services()} == {"storage"}
    finally:
        app.close()


def test_only_the_services_this_process_runs_are_listed() -> None:
    app = memory_app(**{"deployment.services": "payments"})
    try:
        assert [s.name for s in app.control.services()] == ["payments"]
    finally:
        app.close()


class _Gone:
    """A store that does not answer: its check and its outbox both fail."""

    def check(self) -> None:
        raise Unavailable("orders store", "connection refused")

    @property
    def outbox(self) -> Any:
        raise AssertionError("a store that failed its check is not read")


def test_a_store_that_does_not_answer_is_reported_in_its_health_not_raised() -> None:
    service = SimpleNamespace(name="orders", storage=_Gone(), clock=SimpleNamespace(now=lambda: datetime.now(UTC)))
    board = SimpleNamespace(active=lambda slot: "postgres")
    operations = Operations(switchboard=board, feed=SimpleNamespace(), services=[service], health_checks={},
                            slot_of=lambda name: f"{name}.storage", pid=42)
    [status] = operations.services()
    assert "connection refused" in status.health
    assert (status.adapter, status.outbox_pending, status.outbox_lag_seconds) == ("postgres", None, None)


def test_a_service_status_reads_back_from_its_json() -> None:
    status = ServiceStatus(name="inventory", pid=7, slot="inventory.storage", adapter="sqlite", health="ok",
                           outbox_pending=3, outbox_lag_seconds=1.5)
    assert ServiceStatus.from_json(status.to_json()) == status
