"""Liveness, readiness against the real dependencies (answered from background checks; a broker
outage degrades, a store outage fails), and the Prometheus metrics (prometheus-client: snake_case
label values, process metrics and build info, relay throughput and errors)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from adapters.inbound.rest.metrics import Metrics, snake
from adapters.inbound.rest.operations import HealthWatch
from core.kernel.feed import FeedEvent, FeedKind
from tests.integration.rest.conftest import ORDER, make_api, make_application, open_client
from tests.served import free_port

pytestmark = pytest.mark.anyio


async def test_health_answers_while_the_process_lives(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_reports_each_dependency(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["checks"]) == ("ready", {"orders.storage": "ok", "inventory.storage": "ok",
                                                           "payments.storage": "ok", "shipping.storage": "ok",
                                                           "messaging": "ok"})
    assert body["checked_seconds_ago"] >= 0


async def test_a_broker_that_is_down_degrades_readiness_but_orders_are_still_taken(tmp_path: Path) -> None:
    port = free_port()  # free a moment ago, so nothing listens: connections are refused
    application = make_application(tmp_path, **{
        "messaging.adapter": "kafka", "messaging.bootstrap_servers": f"127.0.0.1:{port}",
    })
    async for client in open_client(make_api(application)):
        response = await client.get("/ready")
        placed = await client.post("/orders", json=ORDER)
    assert response.status_code == 200, "the outbox keeps the events: orders can still be taken"
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["orders.storage"] == "ok"
    assert f"127.0.0.1:{port}" in body["checks"]["messaging"]
    assert placed.status_code == 201


async def test_a_store_that_is_down_makes_ready_503_with_retry_after(tmp_path: Path) -> None:
    port = free_port()
    application = make_application(tmp_path, **{
        "storage.adapter": "postgres", "storage.url": f"postgresql://u:secret@127.0.0.1:{port}/db",
        "storage.connect_timeout_s": 1,
    })
    async for client in open_client(make_api(application)):
        response = await client.get("/ready")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.headers["content-type"] == "application/problem+json"
    assert f"127.0.0.1:{port}" in response.json()["checks"]["orders.storage"]
    assert "secret" not in response.text


def test_the_health_watch_answers_from_its_last_result_while_a_check_is_slow() -> None:
    import threading

    release = threading.Event()
    calls: list[int] = []

    def check() -> dict[str, str]:
        calls.append(1)
        if len(calls) > 1:
            release.wait(30)  # the second check hangs, like a store that does not answer
        return {"storage": "ok"}

    watch = HealthWatch(check, interval=0.01)
    watch.start()
    try:
        assert watch.wait_first(10)
        while len(calls) < 2:
            release.wait(0.01)
        checks, age = watch.latest()  # at once, while the second check hangs
        assert checks == {"storage": "ok"} and age >= 0
    finally:
        release.set()
        watch.stop()


def sample(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "") + r" (\S+)"
    match = re.search("^" + pattern + "$", text, re.MULTILINE)
    assert match, f"{name}{{{wanted}}} not in metrics"
    return float(match.group(1))


async def test_metrics_count_commands_by_type_and_outcome_with_latency(client: httpx.AsyncClient) -> None:
    order_id = (await client.post("/orders", json=ORDER)).json()["order_id"]
    await client.post("/orders", json={**ORDER, "currency": "XX"})
    await client.post(f"/orders/{order_id}/cancel", json={"reason": "x"})
    await client.post(f"/orders/{order_id}/cancel", json={"reason": "x"})

    response = await client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert sample(text, "orderhex_commands_total", command="place_order", outcome="ok") == 1
    assert sample(text, "orderhex_commands_total", command="cancel_order", outcome="ok") == 1
    assert sample(text, "orderhex_commands_total", command="cancel_order", outcome="illegal_transition") == 1
    assert sample(text, "orderhex_command_duration_seconds_count", command="place_order") >= 1
    assert sample(text, "orderhex_command_duration_seconds_bucket", command="cancel_order", le="+Inf") == 2


async def test_metrics_carry_the_process_and_the_build(client: httpx.AsyncClient) -> None:
    text = (await client.get("/metrics")).text
    assert sample(text, "process_resident_memory_bytes") > 0
    assert sample(text, "process_cpu_seconds_total") > 0
    assert re.search(r'^orderhex_build_info\{.*version="[^"]+".*\} 1\.0$', text, re.MULTILINE), text
    assert re.search(r'^python_info\{', text, re.MULTILINE)
    assert "_created" not in text


def test_label_values_are_snake_case() -> None:
    assert [snake(v) for v in ("PlaceOrder", "IllegalTransition", "HTTPError", "ok", "Unavailable")] == [
        "place_order", "illegal_transition", "http_error", "ok", "unavailable"]


def test_relay_throughput_and_errors_are_counted_from_the_feed() -> None:
    metrics = Metrics()
    now = datetime.now(UTC)
    for seq, (kind, data) in enumerate([
        (FeedKind.OUTBOX_PUBLISHED, {"count": 500, "first_seq": 1, "last_seq": 500, "topic": "t"}),
        (FeedKind.OUTBOX_PUBLISHED, {"count": 3, "first_seq": 501, "last_seq": 503, "topic": "t"}),
        (FeedKind.OUTBOX_PUBLISHED, {"purged": 7}),
        (FeedKind.ERROR, {"component": "relay", "error": "Unavailable"}),
        (FeedKind.RELAY_LAG, {"pending": 0, "lag_seconds": None, "resumed": True}),
    ], start=1):
        metrics.on_feed_event(FeedEvent(kind=kind, text="x", at=now, data=data, seq=seq))
    text = metrics.render()
    assert sample(text, "orderhex_relay_published_messages_total") == 503
    assert sample(text, "orderhex_relay_batches_total") == 2
    assert sample(text, "orderhex_outbox_purged_rows_total") == 7
    assert sample(text, "orderhex_relay_errors_total", error="unavailable") == 1
    assert sample(text, "orderhex_relay_outages_ended_total") == 1


async def test_metrics_show_the_outbox_backlog_and_lag(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        await client.post("/orders", json=ORDER)
    text = (await client.get("/metrics")).text
    # No relay runs in this app, so every event waits in the outbox.
    assert sample(text, "orderhex_outbox_pending") == 3
    assert sample(text, "orderhex_outbox_lag_seconds") >= 0
    assert sample(text, "orderhex_relay_running") == 0
    assert sample(text, "orderhex_outbox_up") == 1


async def test_metrics_label_requests_by_route_template_not_by_id(client: httpx.AsyncClient) -> None:
    await client.get("/orders/a")
    await client.get("/orders/b")
    text = (await client.get("/metrics")).text
    assert sample(text, "orderhex_http_requests_total", method="get", route="/orders/{order_id}", status="404") == 2
    assert 'route="/orders/a"' not in text


async def test_a_store_that_is_down_gives_503_with_retry_after_and_metrics_still_answer(tmp_path: Path) -> None:
    port = free_port()  # a PostgreSQL URL nothing listens on
    application = make_application(tmp_path, **{
        "storage.adapter": "postgres", "storage.url": f"postgresql://u:secret@127.0.0.1:{port}/db",
        "storage.connect_timeout_s": 1,
    })
    async for client in open_client(make_api(application)):
        responses = [await client.post("/orders", json=ORDER), await client.get("/orders/x"),
                     await client.get("/orders")]
        metrics = await client.get("/metrics")
    for response in responses:
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert response.headers["content-type"] == "application/problem+json"
        assert f"127.0.0.1:{port}" in response.json()["detail"]
        assert "secret" not in response.text
    assert metrics.status_code == 200
    assert sample(metrics.text, "orderhex_outbox_up") == 0
