"""`orderhex serve` as a real process on a free loopback port: orders, the admin API, the relay
worker, the admin token printed once, and a graceful SIGTERM with requests in flight."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.served import ORDERHEX, Serve

ORDER = {"customer_id": "c-1", "currency": "EUR", "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price": "9.99"}]}
TOKEN = "e2e-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}



@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    # Choreography: the client cancels a pending order, which the place-order saga's lock refuses.
    server = Serve(tmp_path_factory.mktemp("serve"), {"api.admin_token": TOKEN, "saga.mode": "manual"})
    yield server
    server.stop()


@pytest.fixture
def http(serve: Serve) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=serve.url, timeout=10) as client:
        yield client


def test_a_client_places_reads_lists_and_cancels_an_order(http: httpx.Client) -> None:
    placed = http.post("/orders", json=ORDER, headers={"Idempotency-Key": "e2e-1"})
    assert placed.status_code == 201
    order_id = placed.json()["order_id"]
    assert http.post("/orders", json=ORDER, headers={"Idempotency-Key": "e2e-1"}).json() == placed.json()
    assert http.get(placed.headers["location"]).json()["status"] == "PENDING"
    assert order_id in [o["order_id"] for o in http.get("/orders", params={"customer": "c-1"}).json()["items"]]
    assert http.post(f"/orders/{order_id}/cancel", json={"reason": "e2e"}).json()["status"] == "CANCELLED"
    conflict = http.post(f"/orders/{order_id}/cancel", json={"reason": "again"})
    assert (conflict.status_code, conflict.json()["state"]) == (409, "CANCELLED")


def test_the_relay_worker_publishes_what_orders_put_in_the_outbox(http: httpx.Client) -> None:
    http.post("/orders", json=ORDER)
    deadline = time.monotonic() + 10
    status = http.get("/admin/outbox", headers=ADMIN).json()
    while status["pending"] and time.monotonic() < deadline:
        time.sleep(0.05)
        status = http.get("/admin/outbox", headers=ADMIN).json()
    assert status["relay_running"] is True
    assert status["pending"] == 0


def test_the_admin_api_refuses_without_the_token_and_serves_with_it(http: httpx.Client) -> None:
    assert http.get("/admin/ports").status_code == 401
    assert http.get("/admin/ports", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert http.get("/admin/ports", headers=ADMIN).status_code == 200


def test_ready_and_metrics_answer(http: httpx.Client) -> None:
    assert http.get("/ready").json()["status"] == "ready"
    assert "orderhex_commands_total" in http.get("/metrics").text


def test_it_binds_loopback_only_by_default(serve: Serve) -> None:
    assert "Uvicorn running on http://127.0.0.1:" in serve.output()


def test_without_a_configured_token_one_is_generated_printed_once_and_never_logged(tmp_path: Path) -> None:
    server = Serve(tmp_path, {"api.access_log": "true"})
    try:
        lines = [json.loads(ln) for ln in server.output().splitlines() if "admin token" in ln]
        assert len(lines) == 1
        token = lines[0]["message"].rsplit(" ", 1)[1]
        with httpx.Client(base_url=server.url, timeout=10) as http:
            assert http.get("/admin/ports", headers={"Authorization": f"Bearer {token}"}).status_code == 200
            assert http.get("/admin/ports", headers={"Authorization": "Bearer not-it"}).status_code == 401
        assert server.terminate() == 0
        assert server.output().count(token) == 1
        assert "GET /admin/ports" in server.output()  # the access log ran, yet holds no token
    finally:
        server.stop()


def test_sigterm_finishes_requests_in_flight_ends_streams_and_exits_0(tmp_path: Path) -> None:
    server = Serve(tmp_path, {"api.admin_token": TOKEN})
    try:
        body = json.dumps(ORDER).encode()
        # A request in flight: the app has started reading its body (uvicorn answers the
        # 100-continue only then) when the signal arrives; the body follows after it.
        slow = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        slow.sendall(b"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        assert slow.recv(1024).startswith(b"HTTP/1.1 100 Continue")
        stream_open, stream_ended = threading.Event(), threading.Event()

        def follow_feed() -> None:
            with httpx.Client(base_url=server.url, timeout=10) as http, \
                    http.stream("GET", "/admin/events", headers=ADMIN) as response:
                for _ in response.iter_lines():
                    stream_open.set()
            stream_ended.set()

        threading.Thread(target=follow_feed, daemon=True).start()
        assert stream_open.wait(10)

        server.process.send_signal(signal.SIGTERM)
        assert stream_ended.wait(10), "the event stream held up shutdown"
        # Streams end on the app's own stop flag, which can come a moment before uvicorn closes
        # its listener: wait, boundedly, for new connections to be refused.
        deadline = time.monotonic() + 5
        while True:
            try:
                httpx.get(f"{server.url}/health", timeout=2)
            except httpx.TransportError:
                break
            assert time.monotonic() < deadline, "still accepting new connections 5 s after SIGTERM"
            time.sleep(0.02)
        slow.sendall(body)
        response = _read_http_response(slow)
        assert response.startswith(b"HTTP/1.1 201"), response[:200]
        assert server.process.wait(20) == 0
        output = server.output()
        assert "stopped outbox-relay" in output
        assert "Finished server process" in output
    finally:
        server.stop()


def _read_http_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _content_length(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    sock.close()
    return data


def _content_length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def test_a_port_already_taken_exits_1_naming_the_address(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERHEX_")}
        env.update({"ORDERHEX_DATA_DIR": str(tmp_path), "ORDERHEX_STORAGE__ADAPTER": "memory",
                    "ORDERHEX_API__ADMIN_TOKEN": TOKEN})
        result = subprocess.run([str(ORDERHEX), "serve", "--port", str(port)], env=env, capture_output=True,
                                text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        f"orderhex: the API address 127.0.0.1:{port} is unavailable: uvicorn could not start there (its log "
        "says why). choose another --port / api.port, or stop what holds this one")
