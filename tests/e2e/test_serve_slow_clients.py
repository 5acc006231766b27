"""`orderhex serve` cuts off clients that trickle a request head (slowloris) after
`api.header_timeout_s`, and serves real requests all the while: raw sockets against a real process."""

from __future__ import annotations

import select
import socket
import time
from pathlib import Path

import httpx

from tests.served import Serve

ORDER = {"customer_id": "c-1", "currency": "EUR", "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price": "9.99"}]}
SLOW_CLIENTS = 300
HEADER_TIMEOUT = 2
# The server checks the deadline on its own clock; allow it this much past the timeout.
GRACE = 4.0


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has closed `sock` (it sends nothing before closing a partial request)."""
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        return sock.recv(1024) == b""
    except OSError:  # reset: closed as well
        return True


def test_slow_request_heads_are_cut_off_while_real_requests_are_served(tmp_path: Path) -> None:
    server = Serve(tmp_path, {"api.header_timeout_s": HEADER_TIMEOUT})
    slow: list[socket.socket] = []
    try:
        for _ in range(SLOW_CLIENTS):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.sendall(b"POST /orders HTTP/1.1\r\nHost: orderhex\r\n")
            slow.append(sock)
        opened = time.monotonic()
        served = 0
        open_ones = list(slow)
        with httpx.Client(base_url=server.url, timeout=5) as http:
            while open_ones and time.monotonic() < opened + HEADER_TIMEOUT + GRACE:
                for sock in open_ones:
                    try:  # one more header line each round: a connection that keeps talking, never finishing
                        sock.sendall(b"X-Slow: 1\r\n")
                    except OSError:
                        continue
                assert http.get("/health").status_code == 200
                assert http.post("/orders", json=ORDER).status_code == 201
                served += 1
                time.sleep(0.2)  # the trickle's pace: real time, since the server's deadline is real time
                open_ones = [sock for sock in open_ones if not closed_by_server(sock)]
        cut_after = time.monotonic() - opened
        assert open_ones == [], f"{len(open_ones)} of {SLOW_CLIENTS} slow clients still open after {cut_after:.1f} s"
        assert cut_after >= HEADER_TIMEOUT - 0.5, "cut off before the timeout"
        assert served >= 5
        with httpx.Client(base_url=server.url, timeout=5) as http:
            assert len(http.get("/orders", params={"limit": 200}).json()["items"]) == served
        assert "request_head_timeout" in server.output()
    finally:
        for sock in slow:
            sock.close()
        server.stop()


def health_response(sock: socket.socket) -> bytes:
    """One whole /health response read from `sock` (its body is a JSON object)."""
    data = b""
    while not data.endswith(b"}"):
        chunk = sock.recv(4096)
        assert chunk, f"the server closed the connection after {data!r}"
        data += chunk
    return data


def test_a_request_that_completes_its_head_in_time_is_answered(tmp_path: Path) -> None:
    server = Serve(tmp_path, {"api.header_timeout_s": HEADER_TIMEOUT})
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\n")
            time.sleep(HEADER_TIMEOUT / 2)
            sock.sendall(b"Host: orderhex\r\n\r\n")
            assert health_response(sock).startswith(b"HTTP/1.1 200")
            # The same connection, kept alive: its next request has a deadline of its own.
            time.sleep(HEADER_TIMEOUT / 2)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: orderhex\r\n\r\n")
            assert health_response(sock).startswith(b"HTTP/1.1 200")
    finally:
        server.stop()
