"""`orderhex serve` as an operator sees it: every line it writes is a JSON log line (uvicorn's
and librdkafka's too), a broker outage is one "broker down" and one "broker up again" line (not a
line per reconnect), orders are taken and /ready says "degraded" meanwhile, and SIGTERM during an
outage, with a publish waiting for the broker, exits within api.shutdown_timeout."""

from __future__ import annotations

import itertools
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.jsonlogs import FileLog, message
from tests.e2e.test_serve import ADMIN, ORDER, TOKEN
from tests.fixtures_kafka import kafka_overrides, start_tansu
from tests.served import Serve

pytestmark = pytest.mark.kafka

SHUTDOWN_TIMEOUT = 5
# What the process may take beyond api.shutdown_timeout to exit (interpreter teardown); before
# the relay's publish could be interrupted it took the delivery timeout (here 30 s) and more.
EXIT_MARGIN = 10


def pending(http: httpx.Client) -> int:
    return int(http.get("/admin/outbox", headers=ADMIN).json()["pending"])


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not {what} within {timeout} s"
        time.sleep(0.05)


def test_serve_logs_json_lines_and_rides_out_a_broker_outage(tmp_path: Path) -> None:
    broker = start_tansu(tmp_path / "broker")
    settings = {**kafka_overrides(broker), "api.admin_token": TOKEN, "api.shutdown_timeout": SHUTDOWN_TIMEOUT,
                "messaging.delivery_timeout_ms": 30_000, "relay.max_backoff_ms": 500, "api.access_log": "true"}
    server = Serve(tmp_path, settings)
    log = FileLog(server.log_path)
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            assert http.post("/orders", json=ORDER).status_code == 201
            wait_until(lambda: pending(http) == 0, 30, "published")
            assert http.get("/ready").json()["status"] == "ready"

            # First outage: the broker goes away while the relay is idle.
            broker.stop()
            assert http.post("/orders", json=ORDER).status_code == 201, "orders are taken during an outage"
            log.wait_for(message("broker down", "orderhex.kafka"), 60, what="'broker down'")
            # /ready answers from checks made every second in the background.
            wait_until(lambda: http.get("/ready").json()["status"] == "degraded", 30, "degraded")
            ready = http.get("/ready")
            assert ready.status_code == 200
            assert broker.bootstrap_servers in ready.json()["checks"]["messaging"]
            assert ready.json()["checks"]["orders.storage"] == "ok"

            broker.start()  # same port, empty (Tansu keeps its log in memory)
            log.wait_for(message("broker up again", "orderhex.kafka"), 60, what="'broker up again'")
            wait_until(lambda: pending(http) == 0, 60, "drained after the outage")

            # Second outage, then SIGTERM while the relay's publish waits for the broker.
            broker.stop()
            assert http.post("/orders", json=ORDER).status_code == 201
            wait_until(lambda: sum(1 for line in log.lines() if message("broker down")(line)) >= 2, 60,
                       "a second 'broker down'")
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(SHUTDOWN_TIMEOUT + EXIT_MARGIN) == 0
    finally:
        server.stop()
        broker.stop()

    lines = log.lines()  # every line parses as a JSON object with time, level, logger and message
    by_logger = {line["logger"] for line in lines}
    assert {"orderhex.serve", "orderhex.kafka", "orderhex.relay", "uvicorn.error", "uvicorn.access"} <= by_logger
    assert any(line["message"].startswith("Uvicorn running on http://127.0.0.1:") for line in lines)
    started = next(line for line in lines if line.get("event") == "started" and line.get("role") == "serve")
    assert started["role"] == "serve" and started["port"] == server.port and "outbox-relays" in started["workers"]
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    assert any(line["method"] == "POST" and line["path"] == "/orders" and line["status"] == 201 for line in access)
    transitions = [line["message"].split(":")[0][:15] for line in lines
                   if message("broker down")(line) or message("broker up again")(line)]
    # One line per change, never one per reconnect: down and up alternate.
    assert transitions[:3] == ["broker down", "broker up again", "broker down"], transitions
    assert all(a != b for a, b in itertools.pairwise(transitions)), transitions
    assert any(line["message"].startswith("relay paused by an outage") for line in lines)
    assert any(line["message"].startswith("relay resumed after an outage") for line in lines)
    assert any(line["message"].startswith("relay backing off") and "retry_in_s" in line for line in lines)
    librdkafka = [line for line in lines if line["logger"] == "orderhex.librdkafka"]
    # Rate-limited: one line per facility and client per 30 s (it printed 182 raw lines in 25 s).
    assert len(librdkafka) <= 30, [line["message"] for line in librdkafka]
    assert all(line["level"] in ("warning", "info", "debug") for line in librdkafka)
    stopped = {line["worker"]: line for line in lines if line.get("event") == "worker_stopped"}
    assert stopped["outbox-relays"]["clean"] is True and stopped["service-consumers"]["clean"] is True
