"""The whole system's admin API at the gateway, what `orderhex dashboard --attach GATEWAY` reads:
a real `orderhex gateway` in front of a real orders service and a real payments service. Its
/admin/events merges both services' event streams, each event tagged with its service and
instance; the rest of /admin goes to the orders service; both need the admin token."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.outbound.http.remote import RemoteService
from tests.e2e.test_gateway import Gateway
from tests.e2e.test_sidecar import wait_until
from tests.served import Serve

ADMIN = "admin-token-gw"


@pytest.fixture
def system(tmp_path: Path) -> Iterator[dict[str, Any]]:
    started: list[Any] = []
    try:
        orders = Serve(tmp_path, {"api.admin_token": ADMIN}, args=("--service", "orders"))
        started.append(orders)
        payments = Serve(tmp_path, {"api.admin_token": ADMIN}, args=("--service", "payments"))
        started.append(payments)
        gateway = Gateway(tmp_path, {"registry.static": f"orders={orders.url};payments={payments.url}",
                                     "api.admin_token": ADMIN})
        started.append(gateway)
        yield {"gateway": gateway, "orders": orders, "payments": payments}
    finally:
        for process in reversed(started):
            process.stop()


def merged_events(url: str, wanted: set[str], timeout: float = 15) -> list[dict[str, Any]]:
    """Events of the gateway's /admin/events until every service in `wanted` has sent one."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    with httpx.stream("GET", f"{url}/admin/events", headers={"Authorization": f"Bearer {ADMIN}"},
                      timeout=httpx.Timeout(timeout, connect=3)) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line.removeprefix("data:")))
            if wanted <= {e["data"]["service"] for e in events} or time.monotonic() > deadline:
                return events
    return events


def test_the_merged_stream_carries_every_services_events_tagged(system: dict[str, Any]) -> None:
    gateway, orders, payments = system["gateway"], system["orders"], system["payments"]
    events = merged_events(gateway.url, {"orders", "payments"})
    by_service = {e["data"]["service"]: e["data"]["instance"] for e in events}
    assert by_service == {"orders": f"127.0.0.1:{orders.port}", "payments": f"127.0.0.1:{payments.port}"}
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))  # one numbering for the merge


def test_the_admin_api_needs_the_token_and_the_rest_goes_to_orders(system: dict[str, Any]) -> None:
    gateway = system["gateway"]
    refused = httpx.get(f"{gateway.url}/admin/events", timeout=5)
    assert refused.status_code == 401 and refused.headers["content-type"] == "application/problem+json"
    assert httpx.get(f"{gateway.url}/admin/sagas", timeout=5).status_code == 401
    sagas = httpx.get(f"{gateway.url}/admin/sagas", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=5)
    assert sagas.status_code == 200, sagas.text
    assert isinstance(sagas.json(), list)


def test_the_dashboards_attach_client_follows_the_whole_system(system: dict[str, Any]) -> None:
    remote = RemoteService(system["gateway"].url, ADMIN)
    try:
        remote.control.feed.start()
        seen = wait_until(lambda: {e.data.get("service") for e in remote.control.feed.recent(0, 1000)}
                          >= {"orders", "payments"} and remote.control.feed.connected, 15,
                          "the attach client did not see both services' events through the gateway")
        assert seen
        assert remote.resilience.breakers() is not None  # /admin/breakers answered by orders
    finally:
        remote.close()
