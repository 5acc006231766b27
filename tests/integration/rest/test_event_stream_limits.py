"""The admin event stream's limits: a new stream replays at most `event_replay` events, a client
resuming before them is told what it missed, and past `max_event_streams` one more is refused
with 503 and Retry-After until a place is given back."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

import bootstrap
from tests.integration.rest.conftest import ADMIN, ORDER, LiveServer, make_api
from tests.integration.rest.test_admin import read_events, seq


@pytest.fixture
def live(application: bootstrap.Application) -> Iterator[LiveServer]:
    with LiveServer(make_api(application, event_replay=10, max_event_streams=2)) as server:
        yield server


@pytest.fixture
def http(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=5) as client:
        yield client


def test_a_new_stream_replays_only_the_newest_events(http: httpx.Client) -> None:
    for _ in range(10):
        http.post("/orders", json=ORDER)  # 20 feed events at least
    newest = int(seq(read_events(http, 1, params={"after": 0})[0]))
    assert newest > 1, "the oldest events are not replayed"
    [first] = read_events(http, 1)
    assert first["event"] != "gap"  # a fresh stream asked for what is held, not for seq 1


def test_a_stream_resuming_before_the_replay_is_told_what_it_missed(http: httpx.Client) -> None:
    for _ in range(10):
        http.post("/orders", json=ORDER)
    gap, first = read_events(http, 2, headers={"Last-Event-ID": "1"})
    assert gap["event"] == "gap"
    assert gap["data"]["missed_from"] == 2 and gap["data"]["missed_to"] == int(seq(first)) - 1


def test_one_stream_past_the_limit_is_refused_until_a_place_is_free(http: httpx.Client, live: LiveServer) -> None:
    with httpx.stream("GET", f"{live.url}/admin/events", headers=ADMIN, timeout=5) as one, \
            httpx.stream("GET", f"{live.url}/admin/events", headers=ADMIN, timeout=5) as two:
        assert (one.status_code, two.status_code) == (200, 200)
        refused = http.get("/admin/events", headers=ADMIN)
        assert refused.status_code == 503
        assert refused.headers["content-type"] == "application/problem+json"
        assert int(refused.headers["retry-after"]) > 0
        assert "api.max_event_streams" in refused.json()["detail"]
        assert http.post("/orders", json=ORDER).status_code == 201  # the API itself is not refused
    deadline = time.monotonic() + 5
    while True:  # the server sees the two clients leave on its next write or poll
        with httpx.stream("GET", f"{live.url}/admin/events", headers=ADMIN, timeout=5) as again:
            if again.status_code == 200 or time.monotonic() > deadline:
                assert again.status_code == 200
                return
        time.sleep(0.1)
