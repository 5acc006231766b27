"""/admin/sagas over the SagaOperations port on the real memory store and saga runner: the admin
token, listing and filtering, one saga in full, operator actions (each in the saga's history),
409 for an action the saga's state refuses, 422 naming every bad field, and the Mermaid graph."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

import bootstrap
from adapters.inbound.rest.app import RestSettings, create_app
from tests.integration.rest.conftest import ADMIN, ADMIN_TOKEN, open_client
from tests.saga_kit import SagaKit

pytestmark = pytest.mark.anyio


@pytest.fixture
def kit() -> SagaKit:
    return SagaKit()


@pytest.fixture
async def client(application: bootstrap.Application, kit: SagaKit) -> AsyncIterator[httpx.AsyncClient]:
    api = create_app(application.ordering, application.control, RestSettings(admin_token=ADMIN_TOKEN),
                     sagas=kit.operations)
    async for opened in open_client(api):
        yield opened


def fields(response: httpx.Response) -> list[str]:
    return [error["field"] for error in response.json()["errors"]]


def operator_texts(body: dict[str, Any]) -> list[str]:
    return [item["text"] for item in body["history"] if item["kind"] == "operator"]


@pytest.mark.parametrize(("method", "path"), [("GET", "/admin/sagas"), ("GET", "/admin/sagas/o-1"),
                                              ("POST", "/admin/sagas/o-1/pause"),
                                              ("GET", "/admin/sagas/graph/place-order")])
async def test_every_saga_route_needs_the_admin_token(client, kit, method, path):
    kit.start("o-1")
    response = await client.request(method, path, headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert kit.operations.saga("o-1").saga.state == "waiting"


async def test_list_shows_each_saga_and_filters_by_state(client, kit):
    kit.start("o-1")
    kit.start("o-2")
    kit.operations.act("o-2", "pause")
    everything = (await client.get("/admin/sagas", headers=ADMIN)).json()
    assert {row["saga_id"]: row["state"] for row in everything} == {"o-1": "waiting", "o-2": "paused"}
    paused = (await client.get("/admin/sagas", params={"state": "paused"}, headers=ADMIN)).json()
    assert [row["saga_id"] for row in paused] == ["o-2"]
    assert (await client.get("/admin/sagas/counts", headers=ADMIN)).json() == {"waiting": 1, "paused": 1}


async def test_a_bad_state_filter_and_an_unknown_query_parameter_are_422_naming_them(client):
    response = await client.get("/admin/sagas", params={"state": "asleep"}, headers=ADMIN)
    assert response.status_code == 422 and fields(response) == ["state"]
    response = await client.get("/admin/sagas", params={"stat": "paused"}, headers=ADMIN)
    assert response.status_code == 422 and fields(response) == ["query.stat"]


async def test_show_gives_steps_timeline_with_message_ids_and_remaining_steps(client, kit):
    kit.start("o-1")
    body = (await client.get("/admin/sagas/o-1", headers=ADMIN)).json()
    assert [step["status"] for step in body["steps"]] == ["in_flight", "in_flight", "pending", "pending"]
    assert body["history"][1]["data"]["message_id"] == "saga:o-1:reserve-stock:command:1"
    assert [step["name"] for step in body["remaining"]] == ["approve-order", "schedule-shipment"]
    missing = await client.get("/admin/sagas/o-404", headers=ADMIN)
    assert missing.status_code == 404 and "o-404" in missing.json()["detail"]


async def test_pause_without_a_body_and_resume_are_in_the_history(client, kit):
    kit.start("o-1")
    paused = await client.post("/admin/sagas/o-1/pause", headers=ADMIN)
    assert paused.status_code == 200 and paused.json()["state"] == "paused"
    resumed = await client.post("/admin/sagas/o-1/resume", json={"reason": "payments is back"}, headers=ADMIN)
    assert resumed.status_code == 200 and resumed.json()["state"] == "waiting"
    assert operator_texts(resumed.json()) == ["operator: paused", "operator: resumed; handling 0 held input(s)"]


async def test_retry_and_skip_name_their_step(client, kit):
    kit.start("o-1")
    retried = (await client.post("/admin/sagas/o-1/retry", json={"step": "authorize-payment"}, headers=ADMIN)).json()
    assert next(s for s in retried["steps"] if s["name"] == "authorize-payment")["attempt"] == 2
    skipped = (await client.post("/admin/sagas/o-1/skip", json={"step": "reserve-stock", "reason": "counted by hand"},
                                 headers=ADMIN)).json()
    assert next(s for s in skipped["steps"] if s["name"] == "reserve-stock")["status"] == "skipped"
    assert operator_texts(skipped)[-1] == "operator: skip reserve-stock: counted by hand"


async def test_an_action_the_sagas_state_refuses_is_409(client, kit):
    kit.start("o-1")
    response = await client.post("/admin/sagas/o-1/resume", headers=ADMIN)
    assert response.status_code == 409
    assert response.json()["type"] == "urn:orderhex:problem:illegal-transition"
    assert "saga o-1" in response.json()["detail"] and "cannot resume" in response.json()["detail"]


async def test_a_bad_action_body_is_422_naming_every_bad_field(client, kit):
    kit.start("o-1")
    response = await client.post("/admin/sagas/o-1/skip", json={"step": 7, "reason": [], "why": "x"}, headers=ADMIN)
    assert response.status_code == 422 and sorted(fields(response)) == ["reason", "step", "why"]
    response = await client.post("/admin/sagas/o-1/skip", json={"step": "wash-car"}, headers=ADMIN)
    assert response.status_code == 422 and fields(response) == ["step", "reason"]
    response = await client.post("/admin/sagas/o-1/retry", content=b"[1", headers={**ADMIN,
                                                                                  "Content-Type": "application/json"})
    assert response.status_code == 422 and fields(response) == ["body"]
    assert kit.operations.saga("o-1").saga.state == "waiting"


async def test_graph_is_mermaid_text_and_an_unknown_definition_is_404(client):
    response = await client.get("/admin/sagas/graph/place-order", headers=ADMIN)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    assert response.text.startswith("flowchart TD\n") and "payments.AuthorizePayment" in response.text
    assert (await client.get("/admin/sagas/graph/make-tea", headers=ADMIN)).status_code == 404


def test_the_http_client_over_a_live_server_reads_acts_and_refuses_like_the_port_in_process(application, kit):
    from adapters.outbound.http.api import ServedApi
    from adapters.outbound.http.sagas import HttpSagaOperations
    from core.kernel.errors import IllegalTransition, InvalidFields, NotFound
    from tests.integration.rest.conftest import LiveServer

    kit.start("o-1")
    api = create_app(application.ordering, application.control, RestSettings(admin_token=ADMIN_TOKEN),
                     sagas=kit.operations)
    with LiveServer(api) as server:
        served = ServedApi(server.url, ADMIN_TOKEN)
        try:
            remote = HttpSagaOperations(served)
            assert remote.sagas() == kit.operations.sagas()
            assert remote.act("o-1", "pause", reason="checking") == kit.operations.saga("o-1")
            assert remote.counts() == {"paused": 1}
            assert remote.graph("place-order") == kit.operations.graph("place-order")
            with pytest.raises(IllegalTransition) as refused:
                remote.act("o-1", "pause")
            assert str(refused.value) == "saga o-1 is paused: cannot pause"
            with pytest.raises(InvalidFields) as invalid:
                remote.act("o-1", "skip", step="wash-car")
            assert [e.field for e in invalid.value.errors] == ["step", "reason"]
            with pytest.raises(NotFound):
                remote.saga("o-404")
            with pytest.raises(NotFound):
                remote.graph("make-tea")
        finally:
            served.close()
