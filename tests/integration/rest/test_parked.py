"""Parked outbox rows through the admin API (/admin/outbox/parked, the admin token), its HTTP
client (the dashboard's attach mode) and the metrics: list, retry, drop."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

import bootstrap
from adapters.outbound.http.api import ServedApi
from adapters.outbound.http.control import HttpControl
from adapters.outbound.memory.broker import MemoryPublisher
from adapters.outbound.memory.messaging import MemoryMessaging
from core.kernel.envelope import OutboxRecord
from core.kernel.errors import NotFound
from tests.integration.rest.conftest import ADMIN, ADMIN_TOKEN, LiveServer, make_api

LIMIT = 1000


def park_one(application: bootstrap.Application) -> int:
    """A row the memory broker refuses for its size (as Kafka's message.max.bytes), and one of
    the same key behind it; the relay parks the first. Returns its seq."""
    messaging = application.switchboard.get("messaging")
    assert isinstance(messaging, MemoryMessaging)
    messaging.publisher = MemoryPublisher(messaging.broker, max_message_bytes=LIMIT)
    records = [OutboxRecord(event_id=f"big-{v}", aggregate_id="big", aggregate_version=v, type="orders.Test",
                            payload="x" * (2 * LIMIT if v == 1 else 10), created_at=datetime(2026, 1, 1, tzinfo=UTC),
                            topic="orderhex.orders.events") for v in (1, 2)]
    seq, _ = application.storage.committer.write([], records, [], [])
    bootstrap.relay_worker(application).loop.relay.publish_batch()
    return seq


def published(application: bootstrap.Application) -> list[str]:
    messaging = application.switchboard.get("messaging")
    assert isinstance(messaging, MemoryMessaging)
    return [m.id for m in messaging.broker.messages("orderhex.orders.events")]


@pytest.mark.anyio
async def test_parked_rows_need_the_admin_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/admin/outbox/parked")).status_code == 401
    assert (await client.post("/admin/outbox/parked/1/retry")).status_code == 401
    assert (await client.delete("/admin/outbox/parked/1", headers={"Authorization": "Bearer nope"})).status_code == 401


@pytest.mark.anyio
async def test_the_admin_api_lists_retries_and_drops_parked_rows(
        application: bootstrap.Application, client: httpx.AsyncClient) -> None:
    seq = park_one(application)
    [row] = (await client.get("/admin/outbox/parked", headers=ADMIN)).json()
    assert (row["seq"], row["service"], row["key"], row["payload_bytes"]) == (seq, "orders", "big", 2 * LIMIT)
    assert "limit of 1000 bytes" in row["reason"]
    assert (await client.get("/admin/outbox", headers=ADMIN)).json()["parked"] == 1
    retried = await client.post(f"/admin/outbox/parked/{seq}/retry", headers=ADMIN, params={"service": "orders"})
    assert retried.status_code == 200 and retried.json()["seq"] == seq
    assert (await client.get("/admin/outbox/parked", headers=ADMIN)).json() == []
    bootstrap.relay_worker(application).loop.relay.publish_batch()  # refused again: parked again
    dropped = await client.delete(f"/admin/outbox/parked/{seq}", headers=ADMIN)
    assert dropped.status_code == 200 and dropped.json()["event_id"] == "big-1"
    bootstrap.relay_worker(application).loop.relay.publish_batch()
    assert published(application) == ["big-2"]


@pytest.mark.anyio
async def test_a_seq_not_parked_is_404_and_bad_input_is_422_naming_the_field(client: httpx.AsyncClient) -> None:
    missing = await client.post("/admin/outbox/parked/42/retry", headers=ADMIN)
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert "parked outbox row '42' not found" in missing.json()["detail"]
    bad = await client.delete("/admin/outbox/parked/0", headers=ADMIN)
    assert bad.status_code == 422 and "seq" in bad.text
    unknown = await client.post("/admin/outbox/parked/1/retry", headers=ADMIN, params={"service": "billing"})
    assert unknown.status_code == 422 and "service" in unknown.text and "billing" in unknown.text


@pytest.mark.anyio
async def test_metrics_show_the_parked_rows(application: bootstrap.Application, client: httpx.AsyncClient) -> None:
    park_one(application)
    text = (await client.get("/metrics")).text
    assert "orderhex_outbox_parked 1.0" in text
    assert "orderhex_relay_parked_messages_total 1.0" in text


def test_the_attach_client_lists_retries_and_drops_parked_rows(application: bootstrap.Application) -> None:
    seq = park_one(application)
    with LiveServer(make_api(application)) as server:
        control = HttpControl(ServedApi(server.url, ADMIN_TOKEN))
        [row] = control.parked_rows()
        assert (row.seq, row.key, row.service) == (seq, "big", "orders")
        assert control.outbox_status().parked == 1
        assert control.retry_parked(seq).event_id == "big-1"
        with pytest.raises(NotFound, match="parked outbox row"):
            control.drop_parked(seq)
        bootstrap.relay_worker(application).loop.relay.publish_batch()
        assert control.drop_parked(seq, service="orders").seq == seq
        assert control.parked_rows() == []
