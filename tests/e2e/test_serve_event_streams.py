"""50 admin event streams open on a real `orderhex serve` do not starve the order API: its order
throughput stays within a stated share of its idle figure, every order is answered, every stream
is fed, and a stream past `api.max_event_streams` is refused with 503 and Retry-After.

Real HTTP clients on 127.0.0.1: order clients in threads, the streams as raw sockets drained by one
selector thread (so the test's own reading costs little of the two cores it shares with the server)."""

from __future__ import annotations

import selectors
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.served import Serve

TOKEN = "e2e-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
ORDER = {"customer_id": "c-1", "currency": "EUR", "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price": "9.99"}]}
STREAMS = 50
CLIENTS = 8
MEASURE_SECONDS = 4.0
# The share of its idle throughput the order API keeps with the streams open. Before the fan-out
# it kept 1.6% (421/s idle, 6.8/s with 50 streams); it keeps 50-90% now. The bar catches starving
# by a factor of fifteen, and sits below what a machine loaded by other work measures (0.49 once,
# with the load average at 18): the test's clients share the machine's two cores with the server,
# and the throughput itself is bench/rest.py's to report.
KEPT_SHARE = 0.25


@dataclass
class Load:
    placed: int = 0
    failed: list[str] = field(default_factory=list)
    slowest: float = 0.0


def place_orders(url: str, seconds: float) -> tuple[float, Load]:
    """Orders placed per second by CLIENTS threads for `seconds`, and what went wrong."""
    load, lock = Load(), threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        with httpx.Client(base_url=url, timeout=10) as http:
            while time.monotonic() < deadline:
                started = time.monotonic()
                try:
                    status = http.post("/orders", json=ORDER).status_code
                except httpx.HTTPError as exc:
                    status, error = 0, repr(exc)
                took = time.monotonic() - started
                with lock:
                    load.slowest = max(load.slowest, took)
                    if status == 201:
                        load.placed += 1
                    else:
                        load.failed.append(error if status == 0 else str(status))

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 15)
    return load.placed / (time.monotonic() - started), load


class Streams:
    """STREAMS raw connections reading /admin/events, drained by one thread; counts events per stream."""

    def __init__(self, port: int) -> None:
        self.selector = selectors.DefaultSelector()
        self.events = [0] * STREAMS
        self.heads = [b""] * STREAMS
        self.stop = threading.Event()
        self.sockets = []
        request = (f"GET /admin/events HTTP/1.1\r\nHost: orderhex\r\nAuthorization: Bearer {TOKEN}\r\n"
                   "Accept: text/event-stream\r\n\r\n").encode()
        for index in range(STREAMS):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(request)
            sock.setblocking(False)
            self.selector.register(sock, selectors.EVENT_READ, index)
            self.sockets.append(sock)
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        while not self.stop.is_set():
            for key, _ in self.selector.select(0.1):
                try:
                    data = key.fileobj.recv(1 << 16)  # type: ignore[union-attr]
                except BlockingIOError:
                    continue
                if len(self.heads[key.data]) < 12:
                    self.heads[key.data] += data[:12]
                self.events[key.data] += data.count(b"\nevent: ")

    def wait_fed(self, at_least: list[int], seconds: float) -> bool:
        """Whether every stream has more events than `at_least` within `seconds`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if all(now > before for now, before in zip(self.events, at_least, strict=True)):
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        for sock in self.sockets:
            sock.close()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    server = Serve(tmp_path, {"api.admin_token": TOKEN, "api.max_event_streams": STREAMS})
    yield server
    server.stop()


@pytest.mark.slow
def test_fifty_event_streams_leave_the_order_api_most_of_its_throughput(serve: Serve) -> None:
    place_orders(serve.url, 1.0)  # warm up; the feed now holds events every new stream replays
    idle, idle_load = place_orders(serve.url, MEASURE_SECONDS)
    streams = Streams(serve.port)
    try:
        assert streams.wait_fed([0] * STREAMS, 10), f"streams without their replay: {streams.events}"
        assert all(head.startswith(b"HTTP/1.1 200") for head in streams.heads), set(streams.heads)
        extra = httpx.get(f"{serve.url}/admin/events", headers=ADMIN, timeout=5)
        assert extra.status_code == 503 and int(extra.headers["retry-after"]) > 0, extra.text
        assert extra.headers["content-type"] == "application/problem+json"
        before = list(streams.events)
        busy, busy_load = place_orders(serve.url, MEASURE_SECONDS)
        assert streams.wait_fed(before, 5), "a stream was not fed while orders were placed"
    finally:
        streams.close()
    print(f"\norder throughput: idle {idle:.0f}/s, with {STREAMS} event streams {busy:.0f}/s "
          f"({busy / idle:.0%}); slowest order {idle_load.slowest:.2f} s idle, {busy_load.slowest:.2f} s busy")
    assert idle_load.failed == [] and busy_load.failed == [], (idle_load.failed[:3], busy_load.failed[:3])
    assert busy >= KEPT_SHARE * idle, f"{busy:.0f}/s with {STREAMS} streams against {idle:.0f}/s idle"
    # The streams gave their places back: a new one is accepted again.
    deadline = time.monotonic() + 5
    while True:
        with httpx.stream("GET", f"{serve.url}/admin/events", headers=ADMIN, timeout=5) as response:
            if response.status_code == 200 or time.monotonic() > deadline:
                assert response.status_code == 200
                break
        time.sleep(0.1)
