"""Request bodies must be JSON: a write carrying any other Content-Type (or a body without one) is
refused with 415 on every route of every service and the admin API, before it has any effect.

Why it matters: text/plain, form-encoded and multipart bodies (and bodies without a type) are what
a web page can make the operator's browser send to a local orderhex without a CORS preflight."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from fastapi import FastAPI

import bootstrap
from tests.integration.rest.conftest import ADMIN, ORDER, make_api, open_client
from tests.integration.rest.test_orders import assert_problem

pytestmark = pytest.mark.anyio

# What a cross-site page can send without a preflight: each must be refused.
SIMPLE_BODIES = {
    "text/plain": ("text/plain;charset=UTF-8", json.dumps(ORDER).encode()),
    "form": ("application/x-www-form-urlencoded", b"customer_id=c-1&currency=EUR"),
    "multipart": ("multipart/form-data; boundary=b",
                  b'--b\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--b--\r\n'),
    "no type": (None, json.dumps(ORDER).encode()),
}


def write_routes(api: FastAPI) -> list[tuple[str, str]]:
    """(method, path with every parameter filled) of every write the OpenAPI document lists."""
    routes = []
    for path, operations in api.openapi()["paths"].items():
        for method in operations:
            if method in ("post", "put", "patch", "delete"):
                routes.append((method.upper(), re.sub(r"\{[^}]+\}", "x-1", path)))
    return routes


async def test_every_write_of_every_service_and_the_admin_api_refuses_bodies_that_are_not_json(
        application: bootstrap.Application) -> None:
    api = make_api(application)
    routes = write_routes(api)
    assert {path.split("/")[1] for _, path in routes} >= {"orders", "inventory", "payments", "shipping", "admin"}
    async for client in open_client(api):
        for method, path in routes:
            for name, (content_type, body) in SIMPLE_BODIES.items():
                headers = {**ADMIN, **({"Content-Type": content_type} if content_type else {})}
                response = await client.request(method, path, content=body, headers=headers)
                problem = assert_problem(response, 415)
                assert response.headers["accept"] == "application/json, application/*+json", (method, path, name)
                assert problem["type"] == "urn:orderhex:problem:unsupported-media-type"
        # None of them had an effect: no order, no stock, no account.
        assert (await client.get("/orders")).json()["items"] == []
        assert (await client.get("/inventory/stock/x-1")).status_code == 404


async def test_json_and_structured_json_types_with_parameters_are_accepted(client: httpx.AsyncClient) -> None:
    body = json.dumps(ORDER).encode()
    for content_type in ("application/json", "Application/JSON; charset=utf-8", "application/merge-patch+json"):
        response = await client.post("/orders", content=body, headers={"Content-Type": content_type})
        assert response.status_code == 201, (content_type, response.text)


async def test_a_write_without_a_body_needs_no_content_type(client: httpx.AsyncClient) -> None:
    placed = (await client.post("/orders", json=ORDER)).json()
    approved = await client.post(f"/orders/{placed['order_id']}/approve")
    assert approved.status_code == 200, approved.text
    # ...but an empty form post (what an HTML form sends) is still refused.
    assert_problem(await client.post(f"/orders/{placed['order_id']}/ship",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"}), 415)
    assert (await client.get(f"/orders/{placed['order_id']}")).json()["status"] == "APPROVED"


async def test_the_openapi_document_lists_415_on_every_write(application: bootstrap.Application) -> None:
    api = make_api(application)
    for path, operations in api.openapi()["paths"].items():
        for method, operation in operations.items():
            if method in ("post", "put", "patch", "delete"):
                assert "415" in operation["responses"], (method, path)
                assert "application/problem+json" in operation["responses"]["415"]["content"]
