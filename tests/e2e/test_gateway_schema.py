"""Schemathesis fuzzes a real `orderhex gateway` process from the gateway's own OpenAPI document,
composed from the services it fronts (two real `orderhex serve` processes on 127.0.0.1, found
through the static registry): every answer matches the document (status, media type, headers,
body), and the gateway itself answers no 5xx. An upstream's 5xx passed through would carry
`X-Served-By` and no `X-Gateway-Error`; every error the gateway makes carries `X-Gateway-Error`
and is problem+json. The document says what the gateway adds: its security schemes, the scope
each route needs, its own errors and endpoints."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.config._checks import NegativeDataRejectionConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.e2e.test_gateway import Gateway
from tests.served import Serve

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

KEY = "fuzz-key-0123"
ADMIN_TOKEN = "fuzz-admin-token"
JWT_KEY = "fuzz-jwt-key-" + "y" * 32
GATEWAY_ERROR = "X-Gateway-Error"
REFUSALS = [*NegativeDataRejectionConfig._DEFAULT_EXPECTED_STATUSES, "413"]
CONFIG = SchemathesisConfig.from_dict({"checks": {"negative_data_rejection": {"expected-statuses": REFUSALS}}})


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    data = tmp_path_factory.mktemp("gateway-schema")
    service = {"api.admin_token": ADMIN_TOKEN}
    a = Serve(data, service)
    b = Serve(data, service)
    gw = None
    try:
        gw = Gateway(data, {
            "registry.static": ";".join(f"{s}={a.url},{b.url}" if s == "orders" else f"{s}={a.url}"
                                        for s in ("orders", "inventory", "payments", "shipping")),
            "gateway.api_key": f"fuzzer={KEY}=admin;reader=reader-key=orders:read",
            "gateway.jwt_key": JWT_KEY, "gateway.rate_limit": "100000/second", "api.admin_token": ADMIN_TOKEN,
            "gateway.access_log": False})
        yield gw
    finally:
        if gw is not None:
            gw.stop()
        a.stop()
        b.stop()


@pytest.fixture(scope="module")
def document(gateway: Gateway) -> dict[str, Any]:
    answer = httpx.get(f"{gateway.url}/openapi.json", timeout=30)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


@pytest.fixture(scope="module")
def gateway_schema(gateway: Gateway, document: dict[str, Any]) -> Any:
    assert "x-orderhex-missing" not in document, document["x-orderhex-missing"]
    return schemathesis.openapi.from_url(f"{gateway.url}/openapi.json", config=CONFIG)


def _documents_fastapis_default_422(ctx: Any) -> bool:
    """A few services' admin routes (found by this run: GET /admin/sagas/{saga_id}, GET
    /admin/sagas/graph/{definition}, DELETE /admin/faults/{service}) document their 422 as FastAPI's
    default HTTPValidationError while they answer a Problem: the services' document is wrong there,
    not the gateway, and the services' own fuzz run does not mount those routers. Left out until
    the REST adapter documents them; the gateway passes their answers through unchanged."""
    return "HTTPValidationError" in json.dumps(ctx.operation.definition.raw.get("responses", {}).get("422", {}))


# The merged event stream never ends by design: a request to it cannot be fuzzed to completion.
schema = schemathesis.pytest.from_fixture("gateway_schema").exclude(path="/admin/events").exclude(
    _documents_fastapis_default_422)


def gateway_errors_are_its_own_problems(ctx: Any, response: Any, case: schemathesis.Case) -> bool:
    """No 5xx of the gateway's own; every answer not from an upstream is a problem+json the gateway
    marked as its own, and an upstream's answer never carries the gateway's mark."""
    # schemathesis's Response keeps each header's values as a list.
    headers = {k.lower(): v[0] if isinstance(v, list) else v for k, v in response.headers.items()}
    mine = GATEWAY_ERROR.lower() in headers
    status = response.status_code
    if mine:
        assert status < 500, f"the gateway itself answered {status}: {response.text}"
        assert headers["content-type"] == "application/problem+json", headers
        body = response.json()
        assert body["status"] == status and body["type"].startswith("urn:orderhex:problem:"), body
        assert headers[GATEWAY_ERROR.lower()] == body["type"].rsplit(":", 1)[1]
        assert "x-served-by" not in headers, "a gateway error names no upstream"
    elif status >= 400 and "x-served-by" not in headers:
        raise AssertionError(f"{status} from neither an upstream nor marked as the gateway's: {headers}")
    return True


def _credentials(case: schemathesis.Case) -> None:
    """A credential schemathesis generated is swapped for a real one; a case without one (a negative
    case dropped it) is sent as it is, and must be refused."""
    if not case.headers:
        return
    if "Authorization" in case.headers:
        if case.path.startswith("/admin/"):
            case.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        else:
            token = jwt.encode({"sub": "fuzz-jwt", "scope": "admin", "exp": int(time.time()) + 600}, JWT_KEY,
                               algorithm="HS256")
            case.headers["Authorization"] = f"Bearer {token}"
    if "X-API-Key" in case.headers:
        case.headers["X-API-Key"] = KEY


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_through_the_gateway_answers_as_documented(case: schemathesis.Case) -> None:
    _credentials(case)
    # not_a_server_error is replaced by the check above, which tells the gateway's 5xx from a
    # service's; positive_data_acceptance is left out as in the services' own fuzz run
    # (tests/integration/rest/test_schema_fuzz.py says why).
    case.call_and_validate(additional_checks=[gateway_errors_are_its_own_problems],
                           excluded_checks=[positive_data_acceptance, not_a_server_error], timeout=30)


def test_the_document_has_the_services_paths_and_the_gateways_own(document: dict[str, Any]) -> None:
    paths = document["paths"]
    for path in ("/orders", "/orders/{order_id}", "/checkout/quote", "/inventory/stock/{sku}",
                 "/payments/accounts/{customer_id}", "/shipping/shipments/{order_id}", "/admin/ports",
                 "/health", "/ready", "/metrics", "/gateway/upstreams", "/openapi.json"):
        assert path in paths, sorted(paths)
    assert paths["/health"]["get"]["tags"] == ["gateway"]  # the gateway's own, not a service's


def test_the_document_names_the_security_schemes_and_each_routes_scope(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["gatewayApiKey"] == {"type": "apiKey", "in": "header", "name": "X-API-Key",
                                        "description": "a client's key (gateway.api_key)"}
    assert schemes["gatewayJwt"]["scheme"] == "bearer" and schemes["gatewayJwt"]["bearerFormat"] == "JWT"
    place = document["paths"]["/orders"]["post"]
    assert place["security"] == [{"gatewayApiKey": ["orders:write"]}, {"gatewayJwt": ["orders:write"]}]
    assert document["paths"]["/checkout/quote"]["post"]["security"][0] == {"gatewayApiKey": ["orders:write"]}
    assert document["paths"]["/payments/accounts"]["get"]["security"][0] == {"gatewayApiKey": ["payments:read"]}
    assert document["paths"]["/admin/ports"]["get"]["security"] == [{"HTTPBearer": []}]
    assert document["paths"]["/gateway/upstreams"]["get"]["security"][0] == {"gatewayApiKey": ["admin"]}


def test_the_document_has_the_gateways_errors_as_problems(document: dict[str, Any]) -> None:
    responses = document["paths"]["/orders/{order_id}"]["get"]["responses"]
    for status in ("401", "403", "429", "502", "503", "504"):
        [media] = responses[status]["content"]
        assert media == "application/problem+json", (status, responses[status])
        assert GATEWAY_ERROR in responses[status]["headers"]
    assert "404" in responses and "no healthy instance" in responses["503"]["description"]
    assert document["components"]["responses"]["NoRoute"]["content"]["application/problem+json"]


def test_a_gateway_error_is_marked_and_an_upstream_answer_is_not(gateway: Gateway) -> None:
    with httpx.Client(base_url=gateway.url, timeout=10) as client:
        missing = client.get("/orders/no-such-order", headers={"X-API-Key": KEY})
        # A newline in a path (found by the fuzz run) is routed like any other character.
        newline = client.get("/orders/a%0Ab", headers={"X-API-Key": KEY})
        refused = client.get("/orders")
        forbidden = client.post("/orders", json={}, headers={"X-API-Key": "reader-key"})
        no_route = client.get("/nowhere", headers={"X-API-Key": KEY})
        not_allowed = client.post("/gateway/upstreams", headers={"X-API-Key": KEY})
    assert missing.status_code == 404 and GATEWAY_ERROR not in missing.headers
    assert missing.headers["x-served-by"].startswith("orders/")
    assert newline.status_code == 404 and newline.headers["x-served-by"].startswith("orders/")
    for answer, status, kind in ((refused, 401, "unauthorized"), (forbidden, 403, "forbidden"),
                                 (no_route, 404, "no-route"), (not_allowed, 405, "method-not-allowed")):
        assert answer.status_code == status, answer.text
        assert answer.headers[GATEWAY_ERROR] == kind
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["status"] == status
    assert "GET" in not_allowed.headers["allow"]


def test_a_service_that_gave_no_document_is_named_and_auth_off_means_no_security() -> None:
    """Composed in-process: with no credential configured the gateway documents no security and
    no 401/403; a service no instance answered for is named in x-orderhex-missing."""
    from adapters.inbound.gateway import command
    from adapters.inbound.gateway.openapi import GatewayDocument
    from adapters.outbound.registry.static import StaticRegistry
    from adapters.outbound.system.clock import SystemClock
    from core.runtime.breaker import BreakerConfig
    from tests.e2e.test_gateway import _config

    proxy = command.build(_config(**{"gateway.api_key": ""}), StaticRegistry(""), SystemClock(), BreakerConfig())
    payments = {"openapi": "3.1.0", "info": {"version": "9"}, "paths": {
        "/payments/accounts": {"get": {"responses": {"200": {"description": "ok"}}, "security": [{"X": []}],
                                       "parameters": [{"name": "X-API-Key", "in": "header"}]}},
        "/health": {"get": {"responses": {"200": {"description": "the service's own"}}}}}}
    doc = GatewayDocument(proxy.routes, proxy.upstreams, proxy.auth, admin=False).compose(
        {"payments": payments}, ["orders"])
    assert doc["x-orderhex-missing"] == ["orders"]
    operation = doc["paths"]["/payments/accounts"]["get"]
    assert "security" not in operation and operation["parameters"] == []
    assert {"401", "403"}.isdisjoint(operation["responses"]) and "429" in operation["responses"]
    assert "securitySchemes" not in doc["components"]
    assert doc["paths"]["/health"]["get"]["tags"] == ["gateway"]
    assert not any(p.startswith("/orders") for p in doc["paths"])
