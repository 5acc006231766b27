"""`orderhex relay` as an operator sees it: JSON log lines from start to exit (started, each batch,
backoff during an outage, stopped), Prometheus metrics at --metrics-port, and SIGTERM during a
broker outage, with a publish waiting for the broker, ending it within its stop bound."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import bootstrap
from adapters.inbound.workers.commands import STOP_TIMEOUT
from core.orders.wire import place_order_from_json
from tests.e2e.jsonlogs import PipeLog, message
from tests.fixtures_kafka import kafka_overrides, orderhex_env, orders_topics, start_tansu

pytestmark = [pytest.mark.kafka, pytest.mark.manual]
EXIT_MARGIN = 10  # interpreter start-up and teardown around the stop bound


def place(overrides: dict[str, Any], count: int) -> list[str]:
    app = bootstrap.Application(bootstrap.load_config(env={}, overrides=overrides))
    try:
        body = {"customer_id": "c-log", "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": "1.00"}]}
        return [app.ordering.send(place_order_from_json(body)).order_id for _ in range(count)]
    finally:
        app.close()


def sample(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "") + r" (\S+)"
    match = re.search("^" + pattern + "$", text, re.MULTILINE)
    assert match, f"{name}{{{wanted}}} not in metrics"
    return float(match.group(1))


def relay(overrides: dict[str, Any], *args: str) -> tuple[subprocess.Popen[str], PipeLog]:
    process = subprocess.Popen([sys.executable, "-m", "bootstrap", "relay", *args], env=orderhex_env(overrides),
                               stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    return process, PipeLog(process.stderr)


def test_orderhex_relay_logs_each_batch_and_serves_metrics(tmp_path: Path, kafka_config: dict[str, Any]) -> None:
    overrides = {**kafka_config, "storage.adapter": "sqlite", "data_dir": str(tmp_path)}
    place(overrides, 3)
    process, log = relay(overrides, "--metrics-port", "0")
    try:
        started = log.wait_for(lambda line: line.get("event") == "started", what="the started line")
        assert started["role"] == "relay" and started["message"].startswith("relay publishing")
        assert started["topic"] == orders_topics(kafka_config).events and started["pid"] == process.pid
        batch = log.wait_for(lambda line: line.get("kind") == "outbox_published" and "count" in line,
                             what="a batch line")
        assert (batch["logger"], batch["count"], batch["first_seq"], batch["last_seq"]) == ("orderhex.relay", 3, 1, 3)

        metrics = httpx.get(started["metrics_url"], timeout=10)
        assert metrics.status_code == 200
        text = metrics.text
        assert sample(text, "orderhex_relay_published_messages_total") == 3
        assert sample(text, "orderhex_relay_batches_total") == 1
        assert sample(text, "orderhex_outbox_pending") == 0
        assert sample(text, "orderhex_relay_running") == 1
        assert sample(text, "process_resident_memory_bytes") > 0
        assert 'orderhex_build_info{' in text
        process.send_signal(signal.SIGTERM)
        assert process.wait(STOP_TIMEOUT + EXIT_MARGIN) == 0
    finally:
        process.kill()
        log.close()
    lines = log.lines()  # every line is a JSON object
    [stopped] = [line for line in lines if line.get("event") == "stopped"]
    assert stopped["published"] == 3 and stopped["clean"] is True
    assert stopped["message"] == "relay stopped after publishing 3 message(s)"


def test_sigterm_during_a_broker_outage_stops_the_relay_within_its_bound(tmp_path: Path) -> None:
    broker = start_tansu(tmp_path / "broker")
    # A long delivery timeout: before a publish could be interrupted, SIGTERM waited it out.
    overrides = {**kafka_overrides(broker), "storage.adapter": "sqlite", "data_dir": str(tmp_path),
                 "messaging.delivery_timeout_ms": 60_000, "relay.max_backoff_ms": 1000}
    place(overrides, 1)
    process, log = relay(overrides)
    try:
        log.wait_for(lambda line: line.get("count") == 1, what="the first batch")
        broker.stop()
        place(overrides, 2)
        log.wait_for(message("broker down", "orderhex.kafka"), what="'broker down'")
        log.wait_for(message("relay backing off", "orderhex.relay"), what="a backoff line")
        process.send_signal(signal.SIGTERM)
        assert process.wait(STOP_TIMEOUT + EXIT_MARGIN) == 0
    finally:
        process.kill()
        log.close()
        broker.stop()
    lines = log.lines()
    assert sum(1 for line in lines if message("broker down")(line)) == 1, "said once per outage"
    assert any(line["message"].startswith("relay paused by an outage") and line["level"] == "warning"
               for line in lines)
    [stopped] = [line for line in lines if line.get("event") == "stopped"]
    assert stopped["published"] == 1 and stopped["clean"] is True
    # The two rows placed during the outage stay in the outbox for the next relay.
    app = bootstrap.Application(bootstrap.load_config(env={}, overrides=overrides))
    try:
        assert app.control.outbox_status().pending == 2
    finally:
        app.close()


def test_a_publish_waiting_for_a_broker_that_does_not_answer_is_interrupted_by_sigterm(tmp_path: Path) -> None:
    """A broker that accepts connections but never answers: the relay's wait for it is bounded
    (not the delivery timeout, 60 s here), and SIGTERM ends the process within its stop bound."""
    import socket

    deaf = socket.socket()
    deaf.bind(("127.0.0.1", 0))
    deaf.listen(64)  # connections complete in the backlog; nothing is ever read or answered
    port = deaf.getsockname()[1]
    overrides = {"messaging.adapter": "kafka", "messaging.bootstrap_servers": f"127.0.0.1:{port}",
                 "messaging.delivery_timeout_ms": 60_000, "storage.adapter": "sqlite", "data_dir": str(tmp_path)}
    place({**overrides, "messaging.adapter": "memory"}, 1)
    process, log = relay(overrides)
    try:
        log.wait_for(lambda line: line.get("event") == "started", what="the started line")
        time.sleep(1)  # let the relay's first round reach its wait for the broker
        process.send_signal(signal.SIGTERM)
        assert process.wait(STOP_TIMEOUT + EXIT_MARGIN) == 0
    finally:
        process.kill()
        log.close()
        deaf.close()
    [stopped] = [line for line in log.lines() if line.get("event") == "stopped"]
    assert stopped["published"] == 0
