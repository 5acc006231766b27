"""What the sidecar's data path does besides plain request and answer, against a real `orderhex serve
--service payments` and a real `orderhex sidecar` in front of it (in-memory registry): the service's
event stream (SSE, an answer that never ends) reaches the client event by event as it happens; a
request body of unknown length (chunked) is streamed on; the sidecar's own paths answer another
method with a 405 problem instead of passing it to the service; a client that leaves an event
stream ends its relay (and the service's stream) at once; and a sidecar told to stop while an event
stream is open ends it and exits without waiting out its shutdown timeout."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_sidecar import ADMIN, KEY, SERVICE_KEY, Sidecar
from tests.served import Serve

AS_ADMIN = {"X-API-Key": KEY, "Authorization": f"Bearer {ADMIN}"}
SHUTDOWN_TIMEOUT = 10.0  # the sidecar's: what an open stream would make its stop wait


@pytest.fixture
def sidecar(tmp_path: Path) -> Iterator[Sidecar]:
    serve = Serve(tmp_path, {"api.api_key": SERVICE_KEY, "api.admin_token": ADMIN}, args=("--service", "payments"))
    try:
        fronting = Sidecar(tmp_path, serve.url, {"data_dir": tmp_path, "registry.adapter": "memory",
                                                 "health.interval_ms": 200, "api.api_key": SERVICE_KEY,
                                                 "sidecar.api_key": KEY, "api.admin_token": ADMIN})
        try:
            yield fronting
        finally:
            fronting.stop()
    finally:
        serve.stop()


def authorize(url: str, order_id: str, body: Any = None) -> httpx.Response:
    payment = {"order_id": order_id, "customer_id": "c-stream", "amount": "3.00", "currency": "EUR"}
    if body is None:
        return httpx.post(f"{url}/payments/payments", headers={"X-API-Key": KEY}, json=payment, timeout=10)
    return httpx.post(f"{url}/payments/payments", headers={"X-API-Key": KEY, "Content-Type": "application/json"},
                      content=body(json.dumps(payment).encode()), timeout=10)


def test_an_event_stream_reaches_the_client_as_each_event_happens(sidecar: Sidecar) -> None:
    with httpx.stream("GET", f"{sidecar.url}/admin/events", headers=AS_ADMIN,
                      timeout=httpx.Timeout(10, connect=3)) as stream:
        assert stream.status_code == 200, stream.read()
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        # The first frame arrives while the answer is still open: a proxy that read answers whole
        # would never pass it on.
        assert next(lines) == "retry: 2000"
        assert authorize(sidecar.url, "o-stream-1").status_code == 201
        deadline = time.monotonic() + 10
        for line in lines:
            if line.startswith("data:") and "o-stream-1" in line:
                break
            assert time.monotonic() < deadline, "the payment's event did not come through the open stream"


def open_streams(url: str) -> float:
    metrics = httpx.get(f"{url}/metrics", timeout=5).text
    [value] = [line.split()[1] for line in metrics.splitlines() if line.startswith("orderhex_sidecar_open_streams ")]
    return float(value)


def test_a_client_leaving_an_event_stream_ends_its_relay_at_once(sidecar: Sidecar) -> None:
    with httpx.stream("GET", f"{sidecar.url}/admin/events", headers=AS_ADMIN,
                      timeout=httpx.Timeout(10, connect=3)) as stream:
        assert next(stream.iter_lines()) == "retry: 2000"
        opened = time.monotonic()
        while open_streams(sidecar.url) != 1:  # counted by the time its first chunk is out; polled, under load
            assert time.monotonic() - opened < 3, httpx.get(f"{sidecar.url}/metrics", timeout=5).text[-3000:]
            time.sleep(0.05)
    # Between events only the connection tells that the client left: without watching it, the
    # relay (and its stream at the service) would last until the service's next heartbeat, 15 s on.
    left = time.monotonic()
    while open_streams(sidecar.url) != 0:
        assert time.monotonic() - left < 5, "the relay of a stream its client left went on"
        time.sleep(0.1)


def test_a_chunked_request_body_is_streamed_on_to_the_service(sidecar: Sidecar) -> None:
    def chunked(payload: bytes) -> Iterator[bytes]:
        # A generator: httpx sends it with Transfer-Encoding: chunked, no Content-Length.
        yield payload[:10]
        yield payload[10:]

    answer = authorize(sidecar.url, "o-chunked-1", chunked)
    assert answer.status_code == 201, answer.text
    assert answer.json()["order_id"] == "o-chunked-1"


@pytest.mark.parametrize(("method", "path", "allowed"), [("POST", "/health", "GET"), ("DELETE", "/config", "GET"),
                                                         ("GET", "/sidecar/drain", "POST")])
def test_another_method_on_the_sidecars_own_path_is_a_405_problem(sidecar: Sidecar, method: str, path: str,
                                                                  allowed: str) -> None:
    answer = httpx.request(method, f"{sidecar.url}{path}", headers=AS_ADMIN, timeout=5)
    assert answer.status_code == 405
    assert answer.headers["content-type"] == "application/problem+json"
    assert allowed in answer.headers["allow"]
    assert answer.json()["instance"] == path


def test_a_stop_ends_open_event_streams_without_waiting_out_the_shutdown_timeout(sidecar: Sidecar) -> None:
    with httpx.stream("GET", f"{sidecar.url}/admin/events", headers=AS_ADMIN,
                      timeout=httpx.Timeout(SHUTDOWN_TIMEOUT * 2, connect=3)) as stream:
        lines = stream.iter_lines()
        assert next(lines) == "retry: 2000"
        sidecar.process.send_signal(signal.SIGTERM)
        asked = time.monotonic()
        sidecar.process.wait(SHUTDOWN_TIMEOUT * 2)
        took = time.monotonic() - asked
        assert sidecar.process.returncode == 0, sidecar.output()
        assert took < SHUTDOWN_TIMEOUT / 2, f"the sidecar took {took:.1f} s to stop with a stream open"
        for _ in lines:  # the stream ends (a hang here fails on the read timeout)
            pass
