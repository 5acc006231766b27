"""The event stream's ids carry the server's boot id, so a client resuming after a restart (whose
feed numbers its events from 1 again) is sent the new server's events instead of skipping them."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest

import bootstrap
from tests.integration.rest.conftest import ADMIN, ORDER, LiveServer, make_api

EVENT_ID = re.compile(r"^([0-9a-f]{16}):([0-9]+)$")


@pytest.fixture
def live(application: bootstrap.Application) -> Iterator[LiveServer]:
    with LiveServer(make_api(application)) as server:
        yield server


def event_ids(url: str, count: int, last_event_id: str | None = None) -> list[str]:
    """The ids of the first `count` events of a fresh stream; fails after 5 s."""
    headers = {**ADMIN, **({"Last-Event-ID": last_event_id} if last_event_id else {})}
    ids: list[str] = []
    deadline = time.monotonic() + 5
    with httpx.stream("GET", f"{url}/admin/events", headers=headers, timeout=5) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            assert time.monotonic() < deadline, f"only {len(ids)} of {count} events arrived"
            if line.startswith("id: "):
                ids.append(line.removeprefix("id: "))
                if len(ids) == count:
                    return ids
    raise AssertionError("the stream ended early")


def test_event_ids_are_seqs_qualified_by_the_boot_id(live: LiveServer) -> None:
    httpx.post(f"{live.url}/orders", json=ORDER)
    ids = [EVENT_ID.match(i) for i in event_ids(live.url, 2)]
    assert all(ids), ids
    assert ids[0][1] == ids[1][1]
    assert [int(m[2]) for m in ids if m] == [1, 2]


def test_a_resume_with_this_boots_id_continues_after_it(live: LiveServer) -> None:
    httpx.post(f"{live.url}/orders", json=ORDER)
    first, second = event_ids(live.url, 2)
    assert event_ids(live.url, 1, last_event_id=first) == [second]


def test_a_resume_with_another_boots_id_starts_from_the_oldest_event(live: LiveServer) -> None:
    for _ in range(3):
        httpx.post(f"{live.url}/orders", json=ORDER)
    [resumed] = event_ids(live.url, 1, last_event_id="0123456789abcdef:4")
    assert resumed.endswith(":1")


def test_each_start_of_the_server_has_its_own_boot_id(application: bootstrap.Application) -> None:
    boots = []
    for _ in range(2):
        with LiveServer(make_api(application)) as server:
            httpx.post(f"{server.url}/orders", json=ORDER)
            [event_id] = event_ids(server.url, 1)
            boots.append(event_id.partition(":")[0])
    assert boots[0] != boots[1]


def test_an_id_that_is_no_event_id_is_422(live: LiveServer) -> None:
    response = httpx.get(f"{live.url}/admin/events", headers={**ADMIN, "Last-Event-ID": "boot:x"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "header.Last-Event-ID"
