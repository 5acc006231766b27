"""Liveness, readiness against the real dependencies, and the Prometheus metrics."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

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
    assert response.json() == {"status": "ready", "checks": {"storage": "ok", "messaging": "ok"}}


async def test_ready_is_503_with_retry_after_when_the_broker_is_unreachable(tmp_path: Path) -> None:
    port = free_port()  # free a moment ago, so nothing listens: connections are refused
    application = make_application(tmp_path, **{
        "messaging.adapter": "kafka", "messaging.bootstrap_servers": f"127.0.0.1:{port}",
        "messaging.delivery_timeout_ms": 500,
    })
    async for client in open_client(make_api(application)):
        response = await client.get("/ready")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.headers["content-type"] == "application/problem+json"
    checks = response.json()["checks"]
    assert checks["storage"] == "ok"
    assert f"127.0.0.1:{port}" in checks["messaging"]


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
    assert sample(text, "orderhex_commands_total", command="PlaceOrder", outcome="ok") == 1
    assert sample(text, "orderhex_commands_total", command="CancelOrder", outcome="ok") == 1
    assert sample(text, "orderhex_commands_total", command="CancelOrder", outcome="IllegalTransition") == 1
    assert sample(text, "orderhex_command_duration_seconds_count", command="PlaceOrder") >= 1
    assert sample(text, "orderhex_command_duration_seconds_bucket", command="CancelOrder", le="+Inf") == 2


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
    assert sample(text, "orderhex_http_requests_total", method="GET", route="/orders/{order_id}", status="404") == 2
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
