"""The OpenAPI document: stable operation ids, descriptions and examples, documentation pages that
work without a network, and a request schema that accepts exactly what the server accepts."""

from __future__ import annotations

import re
from typing import Any

import httpx
import jsonschema_rs  # schemathesis's validator (a dev dependency through it)
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bootstrap
from core.kernel.errors import ValidationError
from core.kernel.money import MINOR_UNITS
from core.orders.wire import place_order_from_json
from tests.integration.rest.conftest import ORDER, make_api

ORDER_OPERATIONS = {
    ("post", "/orders"): "place_order",
    ("get", "/orders"): "list_orders",
    ("get", "/orders/{order_id}"): "get_order",
    ("get", "/orders/{order_id}/history"): "get_order_history",
    ("post", "/orders/{order_id}/cancel"): "cancel_order",
    ("post", "/orders/{order_id}/reject"): "reject_order",
    ("post", "/orders/{order_id}/approve"): "approve_order",
    ("post", "/orders/{order_id}/ship"): "ship_order",
}


@pytest.fixture
def document(application: bootstrap.Application) -> dict[str, Any]:
    openapi: dict[str, Any] = make_api(application).openapi()
    return openapi


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method, path): operation for path, item in document["paths"].items() for method, operation in item.items()}


def place_order_schema(document: dict[str, Any]) -> dict[str, Any]:
    body = document["paths"]["/orders"]["post"]["requestBody"]
    schema: dict[str, Any] = body["content"]["application/json"]["schema"]
    return schema


# -- operation ids, descriptions, examples -------------------------------------------------------

def test_every_operation_has_a_stable_unique_operation_id(document: dict[str, Any]) -> None:
    ids = {key: operation["operationId"] for key, operation in operations(document).items()}
    assert {key: ids[key] for key in ORDER_OPERATIONS} == ORDER_OPERATIONS
    assert len(set(ids.values())) == len(ids), "operation ids are unique"
    # The function's name, never FastAPI's default "<name>_<path>_<method>" that changes with the path.
    assert all(re.fullmatch(r"[a-z][a-z_]*", op_id) and not op_id.endswith(("_get", "_post")) for op_id in ids.values())


def test_order_operations_are_described_with_examples(document: dict[str, Any]) -> None:
    found = operations(document)
    for key in ORDER_OPERATIONS:
        assert found[key]["summary"] and found[key]["description"], key
    place = found[("post", "/orders")]
    assert place["requestBody"]["content"]["application/json"]["schema"]["example"]["lines"]
    assert place["responses"]["201"]["content"]["application/json"]["example"]["total"] == "19.98"
    assert document["components"]["schemas"]["OrderOut"]["examples"][0]["status"] == "PENDING"
    invalid = place["responses"]["422"]["content"]["application/problem+json"]
    assert invalid["schema"]["$ref"].endswith("/Problem")
    assert [e["field"] for e in invalid["example"]["errors"]] == ["customer_id", "lines[0].unit_price"]
    problem = document["components"]["schemas"]["Problem"]
    assert "errors" in problem["properties"]


# -- documentation without a network -------------------------------------------------------------

@pytest.mark.anyio
@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_documentation_pages_load_nothing_from_another_host(client: httpx.AsyncClient, page: str) -> None:
    html = await client.get(page)
    assert html.status_code == 200 and "text/html" in html.headers["content-type"]
    assets = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']+)["\']', html.text)
    assert any(a.endswith(".js") for a in assets), assets
    assert not re.search(r"(?:src|href|url)\s*[=:]\s*['\"]?(?:https?:)?//", html.text), "no asset from another host"
    for asset in assets:
        served = await client.get(asset)
        assert served.status_code == 200 and len(served.content) > 1000, asset
    assert (await client.get("/openapi.json")).status_code == 200


# -- the request schema and the server agree -----------------------------------------------------

CURRENCIES = [None, "EUR", "USD", "XYZ", *sorted(MINOR_UNITS)]
PRICES = st.one_of(
    st.from_regex(r"-?0{0,2}[0-9]{0,14}(\.[0-9]{0,6})?([eE][-+]?[0-9]{1,2})?", fullmatch=True),
    st.integers(0, 6).flatmap(lambda n: st.decimals(allow_nan=False, allow_infinity=False, places=n)).map(str),
    st.text(alphabet="0123456789.-+eE _\n", max_size=16),
    st.sampled_from(["0.50", "0.5", "0.05", "0.00", "500", "1000.00", "9.999", "1.250", "1.2345",
                     "999999999999.99", "1000000000000", "09.99", "NaN", "Infinity", "٣", "1_000"]),
)


def parser_accepts(body: dict[str, Any]) -> bool:
    try:
        place_order_from_json(body)
    except ValidationError:
        return False
    return True


@settings(max_examples=3000, deadline=None)
@given(currency=st.sampled_from(CURRENCIES), price=PRICES)
def test_the_schema_accepts_a_price_exactly_when_the_server_does(
        document_validator: jsonschema_rs.Validator, currency: str | None, price: str) -> None:
    body: dict[str, Any] = {"customer_id": "c-1", "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": price}]}
    if currency is not None:
        body["currency"] = currency
    assert document_validator.is_valid(body) == parser_accepts(body), (currency, price)


@pytest.fixture(scope="module")
def document_validator(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.integration.rest.conftest import make_application

    application = make_application(tmp_path_factory.mktemp("openapi"))
    try:
        schema = place_order_schema(make_api(application).openapi())
    finally:
        application.close()
    return jsonschema_rs.validator_for(schema)


@pytest.mark.anyio
@pytest.mark.parametrize(("currency", "price"), [("EUR", "0.50"), ("JPY", "500"), ("KWD", "0.125"), ("EUR", "9.9")])
async def test_prices_the_schema_documents_are_placed(client: httpx.AsyncClient, document_validator: Any,
                                                      currency: str, price: str) -> None:
    body = {**ORDER, "currency": currency, "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": price}]}
    assert document_validator.is_valid(body)
    assert (await client.post("/orders", json=body)).status_code == 201
