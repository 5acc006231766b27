"""The four services as one `orderhex serve --service NAME` process each, on SQLite and one Kafka
namespace of the session's broker, for the place-order saga's fault tests: a service is killed
with -9 and started again on its port and its data directory, as a crashed machine would be.

Each service keeps its data in its own directory (its own SQLite files, relay and timer locks), so
a restarted process finds exactly what its predecessor committed and nothing else.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import served
from tests.e2e.test_serve import ADMIN, TOKEN
from tests.served import Serve

SERVICES = ("orders", "inventory", "payments", "shipping")
# A process imports for about 1.5 s of CPU before it answers /health; on a machine shared by a
# whole suite that took up to 30 s (served.STARTUP_SECONDS), so these tests wait longer.
STARTUP_SECONDS = 90
# A placement that reaches a process being restarted is asked again after this pause.
RETRY_PAUSE = 0.1


def until(condition: Callable[[], Any], timeout: float, what: str, pause: float = 0.2) -> Any:
    """Poll `condition` until it is truthy (returned) or `timeout` seconds pass (AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(pause)


class SagaShop:
    """One process per service under `root`, each restartable on its own port and data directory."""

    def __init__(self, root: Path, settings: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(served, "STARTUP_SECONDS", STARTUP_SECONDS)
        self.root = root
        self.settings = {"storage.adapter": "sqlite", "demo.seed": False, "relay.idle_ms": 20,
                         "api.admin_token": TOKEN, **settings}
        self.processes: dict[str, Serve] = {}
        self.kills: Counter[str] = Counter()
        self.http = httpx.Client(timeout=10)

    def start(self, service: str) -> Serve:
        """Start `service`, on the port it had if it ran before; returns once it answers /health."""
        data = self.root / service
        data.mkdir(exist_ok=True)
        before = self.processes.get(service)
        served = Serve(data, self.settings, port=before.port if before else None, args=("--service", service))
        self.processes[service] = served
        return served

    def start_all(self, services: Iterable[str] = SERVICES) -> None:
        for service in services:
            self.start(service)

    def kill(self, service: str) -> None:
        """kill -9: no shutdown hook runs, whatever was in flight is cut."""
        process = self.processes[service].process
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        self.kills[service] += 1

    def url(self, service: str) -> str:
        return self.processes[service].url

    def call(self, service: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, self.url(service) + path, **kwargs)

    def admin(self, service: str, path: str, **params: Any) -> Any:
        response = self.call(service, "GET", path, headers=ADMIN, params=params)
        assert response.status_code == 200, f"{service} {path}: {response.status_code} {response.text}"
        return response.json()

    def restock(self, sku: str, quantity: int) -> None:
        response = self.call("inventory", "POST", f"/inventory/stock/{sku}/restock", json={"quantity": quantity})
        assert response.is_success, response.text

    def open_account(self, customer: str, credit_limit: str) -> None:
        response = self.call("payments", "PUT", f"/payments/accounts/{customer}", json={"credit_limit": credit_limit})
        assert response.status_code == 201, response.text

    def place(self, order: dict[str, Any], key: str, timeout: float = 2 * STARTUP_SECONDS) -> str:
        """Place `order` under the Idempotency-Key `key`, asking again while orders is down or its
        answer is lost: the key makes a retry after an unknown outcome return the first order."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                placed = httpx.post(self.url("orders") + "/orders", json=order, headers={"Idempotency-Key": key},
                                    timeout=5)
                if placed.status_code in (200, 201):
                    order_id: str = placed.json()["order_id"]
                    return order_id
                assert placed.status_code >= 500, f"placing {key}: {placed.status_code} {placed.text}"
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"order {key} not accepted within {timeout} s"
            time.sleep(RETRY_PAUSE)

    def order(self, order_id: str) -> dict[str, Any]:
        response = self.call("orders", "GET", f"/orders/{order_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def found(self, service: str, path: str) -> dict[str, Any] | None:
        """The resource at `path`, None if the service says 404."""
        response = self.call(service, "GET", path)
        if response.status_code == 404:
            return None
        assert response.status_code == 200, f"{service} {path}: {response.status_code} {response.text}"
        body: dict[str, Any] = response.json()
        return body

    def stock(self, sku: str) -> dict[str, Any]:
        found = self.found("inventory", f"/inventory/stock/{sku}")
        assert found is not None, sku
        return found

    def account(self, customer: str) -> dict[str, Any]:
        found = self.found("payments", f"/payments/accounts/{customer}")
        assert found is not None, customer
        return found

    def saga_counts(self) -> dict[str, int]:
        counts: dict[str, int] = self.admin("orders", "/admin/sagas/counts")
        return counts

    def outbox_rows(self, service: str) -> list[dict[str, Any]]:
        """Every row of the service's outbox (the events its effects committed), up to the API's page."""
        rows: list[dict[str, Any]] = self.admin(service, "/admin/outbox/recent", limit=1000)
        assert len(rows) < 1000, f"{service}'s outbox holds more rows than one page shows"
        return rows

    def metrics(self, service: str) -> str:
        response = self.call(service, "GET", "/metrics")
        assert response.status_code == 200, response.text
        return response.text

    def output(self, service: str) -> str:
        return self.processes[service].output()

    def stop(self) -> None:
        for process in self.processes.values():
            process.stop()
        self.http.close()
