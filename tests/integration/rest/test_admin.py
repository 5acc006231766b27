"""The admin API: ports and adapters over the Control port, and the EventFeed as Server-Sent Events."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import bootstrap
from tests.integration.rest.conftest import ADMIN, ORDER, LiveServer, make_api, make_application

# A second embedded store to switch to (whichever file-backed one bootstrap registers).
OTHER_STORAGE = next(name for name in sorted(bootstrap.STORAGE_ADAPTERS) if name in ("file", "sqlite"))


@pytest.fixture
def live(application: bootstrap.Application) -> Iterator[LiveServer]:
    with LiveServer(make_api(application, sse_heartbeat_seconds=0.5)) as server:
        yield server


@pytest.fixture
def http(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=5) as client:
        yield client


def seq(event: dict[str, Any]) -> str:
    """An event's seq: its id is BOOT:SEQ (test_feed_boot.py covers the boot part)."""
    return str(event["id"]).rpartition(":")[2]


def read_events(http: httpx.Client, count: int, headers: dict[str, str] | None = None,
                params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The first `count` SSE events (id, event, data) of a fresh stream; fails after 5 s."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    deadline = time.monotonic() + 5
    with http.stream("GET", "/admin/events", headers={**ADMIN, **(headers or {})}, params=params) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            assert time.monotonic() < deadline, f"only {len(events)} of {count} events arrived"
            if line == "":
                if "event" in current:
                    events.append(current)
                    if len(events) == count:
                        return events
                current = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(": ")
                current[key] = json.loads(value) if key == "data" else value
    raise AssertionError("the stream ended early")


def test_ports_lists_active_and_available_adapters(http: httpx.Client) -> None:
    ports = {p["port"]: p for p in http.get("/admin/ports", headers=ADMIN).json()}
    assert ports["orders.storage"]["active"] == "memory"
    assert set(bootstrap.STORAGE_ADAPTERS) == set(ports["orders.storage"]["available"])
    assert ports["orders.storage"]["switchable"] is True
    assert ports["clock"]["switchable"] is False


def test_switching_storage_serves_the_next_command_and_switching_back_shows_the_old_data(http: httpx.Client) -> None:
    in_memory = http.post("/orders", json=ORDER).json()["order_id"]
    switched = http.post("/admin/ports/orders.storage/switch", json={"adapter": OTHER_STORAGE}, headers=ADMIN)
    assert switched.status_code == 200
    assert switched.json()["active"] == OTHER_STORAGE
    assert http.get(f"/orders/{in_memory}").status_code == 404
    in_other = http.post("/orders", json=ORDER).json()["order_id"]

    http.post("/admin/ports/orders.storage/switch", json={"adapter": "memory"}, headers=ADMIN)
    assert http.get(f"/orders/{in_memory}").status_code == 200
    assert http.get(f"/orders/{in_other}").status_code == 404


@pytest.mark.parametrize(("port", "body", "field"), [
    ("orders.storage", {"adapter": "floppy"}, "adapter"),
    ("clock", {"adapter": "stepping"}, "port"),
    ("orders.storage", {"adapter": 3}, "adapter"),
    ("storage", {}, "adapter"),
])
def test_a_bad_switch_is_422_naming_what_is_allowed(http: httpx.Client, port: str, body: dict[str, Any],
                                                    field: str) -> None:
    response = http.post(f"/admin/ports/{port}/switch", json=body, headers=ADMIN)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field
    assert http.get("/admin/ports", headers=ADMIN).json()[-1]["active"] == "memory"


def test_services_lists_each_services_process_store_and_backlog(http: httpx.Client) -> None:
    http.post("/orders", json=ORDER)
    services = {s["service"]: s for s in http.get("/admin/services", headers=ADMIN).json()}
    assert list(services) == list(bootstrap.CONTEXTS)
    assert services["orders"] == {"service": "orders", "pid": os.getpid(), "slot": "orders.storage",
                                  "adapter": "memory", "health": "ok", "outbox_pending": 1,
                                  "outbox_lag_seconds": pytest.approx(0, abs=60), "consumer_lag": None}
    assert (services["shipping"]["outbox_pending"], services["shipping"]["outbox_lag_seconds"]) == (0, None)


def test_the_outbox_status_shows_the_backlog(http: httpx.Client) -> None:
    http.post("/orders", json=ORDER)
    assert http.get("/admin/outbox", headers=ADMIN).json() == {
        "pending": 1, "lag_seconds": pytest.approx(0, abs=60), "relay_running": False, "relay_paused": False,
        "parked": 0}


def test_the_recent_outbox_rows_come_newest_first(http: httpx.Client) -> None:
    order_id = http.post("/orders", json=ORDER).json()["order_id"]
    http.post(f"/orders/{order_id}/cancel", json={"reason": "x"})
    rows = http.get("/admin/outbox/recent", params={"limit": 5}, headers=ADMIN).json()
    assert [(r["type"], r["aggregate_version"], r["published_at"]) for r in rows] == [
        ("orders.OrderCancelled", 2, None), ("orders.OrderPlaced", 1, None)]
    assert rows[1]["payload"]["aggregate_id"] == order_id


def test_pausing_a_relay_this_process_does_not_run_is_refused(http: httpx.Client) -> None:
    response = http.post("/admin/relay/pause", headers=ADMIN)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "relay"


def test_the_event_stream_replays_the_feed_then_follows_it_live(http: httpx.Client) -> None:
    http.post("/orders", json=ORDER)  # feed: 1 command, 2 domain_event
    events: list[dict[str, Any]] = []
    with httpx.Client(base_url=str(http.base_url), timeout=5) as other:
        reader = threading.Thread(target=lambda: events.extend(read_events(http, 4)))
        reader.start()
        time.sleep(0.3)  # let the stream catch up with the backlog and wait for news
        # 3 adapter_switched
        other.post("/admin/ports/orders.storage/switch", json={"adapter": "memory"}, headers=ADMIN)
        other.post("/orders/none/cancel", json={"reason": "x"})  # 4 command (failed)
        reader.join(10)
    assert [(seq(e), e["event"]) for e in events] == [
        ("1", "command"), ("2", "domain_event"), ("3", "adapter_switched"), ("4", "command")]
    assert events[2]["data"]["data"] == {"port": "orders.storage", "from": "memory", "to": "memory"}


def test_the_event_stream_resumes_after_last_event_id(http: httpx.Client) -> None:
    for _ in range(3):
        http.post("/orders", json=ORDER)  # seq 1..6
    resumed = read_events(http, 2, headers={"Last-Event-ID": "4"})
    assert [seq(e) for e in resumed] == ["5", "6"]
    from_query = read_events(http, 1, params={"after": 5})
    assert [seq(e) for e in from_query] == ["6"]


def test_a_resume_past_what_the_feed_still_holds_reports_the_gap(tmp_path: Path) -> None:
    application = make_application(tmp_path, **{"feed.capacity": 10})
    with LiveServer(make_api(application)) as live, httpx.Client(base_url=live.url, timeout=5) as http:
        for _ in range(10):
            http.post("/orders", json=ORDER)  # seq 1..20; the feed keeps 11..20
        gap, first = read_events(http, 2, headers={"Last-Event-ID": "3"})
    assert gap["event"] == "gap"
    assert gap["data"] == {"missed_from": 4, "missed_to": 10}
    assert seq(first) == "11"


def test_a_malformed_last_event_id_is_422(http: httpx.Client) -> None:
    response = http.get("/admin/events", headers={**ADMIN, "Last-Event-ID": "abc"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "header.Last-Event-ID"


def test_an_idle_stream_sends_keep_alive_comments(http: httpx.Client) -> None:
    deadline = time.monotonic() + 5
    with http.stream("GET", "/admin/events", headers=ADMIN) as response:
        for line in response.iter_lines():
            assert time.monotonic() < deadline, "no keep-alive within 5 s (heartbeat is 0.5 s)"
            if line.startswith(":"):
                break
