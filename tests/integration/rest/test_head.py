"""HEAD under a real uvicorn: answered like GET without a body, even on the endless event stream."""

from __future__ import annotations

import time

import httpx

import bootstrap
from tests.integration.rest.conftest import ADMIN, ORDER, LiveServer, make_api


def test_head_is_answered_like_get_without_a_body_under_uvicorn(application: bootstrap.Application) -> None:
    with LiveServer(make_api(application)) as server, httpx.Client(base_url=server.url, timeout=5) as http:
        assert http.post("/orders", json=ORDER).status_code == 201
        get, head = http.get("/orders"), http.head("/orders")
        assert (head.status_code, head.content) == (200, b"")
        assert head.headers["content-length"] == str(len(get.content))
        started = time.monotonic()
        stream = http.head("/admin/events", headers=ADMIN)
        assert (stream.status_code, stream.content) == (200, b"")
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert time.monotonic() - started < 2, "the endless stream is stopped once its headers are out"
        assert http.head("/admin/events").status_code == 401
        refused = http.request("DELETE", "/orders")
        assert (refused.status_code, refused.headers["allow"]) == (405, "GET, HEAD, POST")
