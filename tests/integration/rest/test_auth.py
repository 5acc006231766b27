"""The admin API always needs its bearer token; order endpoints need the API key when one is set.
Credentials never come back in a response."""

from __future__ import annotations

import httpx
import pytest

import bootstrap
from adapters.inbound.rest.app import RestSettings, create_app
from tests.integration.rest.conftest import ADMIN, ADMIN_TOKEN, ORDER, make_api, open_client

pytestmark = pytest.mark.anyio


async def test_admin_without_a_token_is_401_with_a_bearer_challenge(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin/ports")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("authorization", [
    f"Bearer {ADMIN_TOKEN}x", f"Bearer {ADMIN_TOKEN[:-1]}", "Bearer ", f"Basic {ADMIN_TOKEN}", "Bearer é-not-ascii",
])
async def test_admin_with_a_wrong_token_is_401_and_the_token_is_not_echoed(
    client: httpx.AsyncClient, authorization: str,
) -> None:
    response = await client.get("/admin/ports", headers={"Authorization": authorization.encode()})
    assert response.status_code == 401
    assert ADMIN_TOKEN[:8] not in response.text


async def test_admin_with_the_right_token_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin/ports", headers=ADMIN)
    assert response.status_code == 200


async def test_every_admin_route_refuses_a_request_without_the_token(client: httpx.AsyncClient) -> None:
    for method, path in [("GET", "/admin/ports"), ("POST", "/admin/ports/orders.storage/switch"),
                         ("GET", "/admin/services"), ("GET", "/admin/outbox"), ("GET", "/admin/outbox/recent"),
                         ("POST", "/admin/relay/pause"), ("POST", "/admin/relay/resume"), ("GET", "/admin/events")]:
        response = await client.request(method, path, json={"adapter": "memory"})
        assert response.status_code == 401, (method, path)


def test_the_admin_api_cannot_be_built_without_a_token(application: bootstrap.Application) -> None:
    with pytest.raises(ValueError, match="token"):
        create_app(application.ordering, application.control, RestSettings(admin_token=""))


async def test_order_endpoints_are_open_when_no_api_key_is_configured(client: httpx.AsyncClient) -> None:
    assert (await client.post("/orders", json=ORDER)).status_code == 201


async def test_order_endpoints_need_the_api_key_when_one_is_configured(application: bootstrap.Application) -> None:
    async for client in open_client(make_api(application, api_key="k3y")):
        missing = await client.post("/orders", json=ORDER)
        wrong = await client.get("/orders", headers={"X-API-Key": "nope"})
        right = await client.post("/orders", json=ORDER, headers={"X-API-Key": "k3y"})
        health = await client.get("/health")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "ApiKey"
    assert wrong.status_code == 401
    assert "k3y" not in wrong.text
    assert right.status_code == 201
    assert health.status_code == 200


async def test_head_needs_the_same_credentials_as_get(application: bootstrap.Application) -> None:
    async for client in open_client(make_api(application, api_key="k3y")):
        admin, admin_ok = await client.head("/admin/ports"), await client.head("/admin/ports", headers=ADMIN)
        orders, orders_ok = await client.head("/orders"), await client.head("/orders", headers={"X-API-Key": "k3y"})
    assert (admin.status_code, admin.headers["www-authenticate"], admin.content) == (401, "Bearer", b"")
    assert (orders.status_code, orders.headers["www-authenticate"]) == (401, "ApiKey")
    assert admin_ok.status_code == orders_ok.status_code == 200 and admin_ok.content == orders_ok.content == b""


async def test_the_documentation_is_served_without_credentials(application: bootstrap.Application) -> None:
    async for client in open_client(make_api(application, api_key="k3y")):
        pages = [await client.get(path) for path in ("/docs", "/redoc", "/openapi.json")]
    assert [p.status_code for p in pages] == [200, 200, 200]
