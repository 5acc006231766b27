"""The active health checker against real HTTP servers on 127.0.0.1: a healthy one, one that
answers 503, one that accepts connections and never answers, and a closed port."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from adapters.outbound.registry.prober import Prober
from core.runtime.health import HealthBoard, HealthSettings
from ports.registry import InstanceRecord
from tests.served import free_port


class Upstream:
    """A /health endpoint whose status code the test sets."""

    def __init__(self) -> None:
        self.status = 200
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(upstream.status if self.path == "/health" else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.close()


@pytest.fixture
def silent() -> Iterator[str]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def instance(instance_id: str, address: str) -> InstanceRecord:
    return InstanceRecord(service="payments", instance_id=instance_id, address=address,
                          started_at=datetime.now(UTC))


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def prober_for(*records: InstanceRecord, fall: int = 2, rise: int = 2) -> Prober:
    board = HealthBoard(SystemClock(), HealthSettings(fall=fall, rise=rise))
    return Prober(board, lambda: records, interval=0.05, timeout=0.3)


def test_each_kind_of_failure_is_named(upstream: Upstream, silent: str) -> None:
    upstream.status = 503
    prober = prober_for()
    try:
        assert prober.probe(instance("a", upstream.address)).reason == "HTTP 503"
        assert prober.probe(instance("b", f"http://127.0.0.1:{free_port()}")).reason == "connection refused"
        assert prober.probe(instance("c", silent)).reason == "timeout after 0.3 s"
        upstream.status = 200
        result = prober.probe(instance("a", upstream.address))
        assert result.ok and result.reason == "HTTP 200" and result.latency_ms is not None
    finally:
        prober.stop()


def test_an_instance_that_starts_failing_goes_down_and_comes_back_with_its_reasons(upstream: Upstream) -> None:
    record = instance("p-1", upstream.address)
    prober = prober_for(record)
    try:
        prober.probe_all()
        assert prober.board.health(record.key).state == "up"
        upstream.status = 500
        prober.probe_all()
        assert prober.board.health(record.key).state == "up"  # one failure is not enough (fall 2)
        prober.probe_all()
        assert prober.board.health(record.key).state == "down"
        upstream.status = 200
        prober.probe_all()
        prober.probe_all()
        health = prober.board.health(record.key)
        assert health.state == "up"
        assert [t.state for t in health.transitions] == ["up", "down", "up"]
        assert health.down_reason == "2 failed probes: HTTP 500"
    finally:
        prober.stop()


def test_the_prober_thread_probes_every_interval_and_a_hung_instance_does_not_hold_up_the_others(
        upstream: Upstream, silent: str) -> None:
    healthy, hung = instance("p-1", upstream.address), instance("p-2", silent)
    prober = prober_for(healthy, hung)
    prober.start()
    try:
        deadline = threading.Event()
        for _ in range(100):  # at most 5 s
            if prober.board.health(hung.key).state == "down":
                break
            deadline.wait(0.05)
        assert prober.board.health(hung.key).state == "down"
        assert prober.board.health(hung.key).down_reason.endswith("timeout after 0.3 s")
        assert prober.board.health(healthy.key).state == "up"
    finally:
        prober.stop()


def test_instances_no_longer_listed_are_forgotten(upstream: Upstream) -> None:
    listed = [instance("p-1", upstream.address), instance("p-2", upstream.address)]
    board = HealthBoard(SystemClock())
    prober = Prober(board, lambda: listed, interval=0.05, timeout=0.3)
    try:
        prober.probe_all()
        listed.pop()
        prober.probe_all()
        assert set(board.snapshot()) == {"payments/p-1"}
    finally:
        prober.stop()
