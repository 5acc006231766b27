"""The gateway's route table: the longest prefix owning a whole path segment wins, scopes by
method, and a bad gateway.routes entry is refused naming it."""

from __future__ import annotations

import pytest

from adapters.inbound.gateway.routes import RouteTable, parse_routes
from core.kernel.errors import ValidationError


@pytest.mark.parametrize(("path", "service"), [
    ("/orders", "orders"), ("/orders/o-1", "orders"), ("/orders/o-1/overview", "orders"),
    ("/checkout/quote", "orders"), ("/inventory/stock/SKU-1", "inventory"), ("/payments/accounts", "payments"),
    ("/shipping/shipments/o-1", "shipping"),
])
def test_default_table_sends_each_prefix_to_the_service_that_serves_it(path: str, service: str) -> None:
    route = RouteTable().match(path)
    assert route is not None and route.service == service


@pytest.mark.parametrize("path", ["/", "/ordersx", "/admin/ports", "/health-check", "/order"])
def test_a_prefix_matches_whole_segments_only(path: str) -> None:
    assert RouteTable().match(path) is None


def test_the_longest_prefix_wins_whatever_the_order_given() -> None:
    table = parse_routes("/orders=orders;/orders/special=payments,pay:r,pay:w")
    assert table.match("/orders/special/x").service == "payments"  # type: ignore[union-attr]
    assert table.match("/orders/specialist").service == "orders"  # type: ignore[union-attr]


def test_reads_need_the_read_scope_and_everything_else_the_write_scope() -> None:
    route = parse_routes("/checkout=orders,orders:read,orders:write").match("/checkout/quote")
    assert route is not None
    assert [route.scope_for(m) for m in ("GET", "HEAD", "POST", "PUT", "DELETE")] == [
        "orders:read", "orders:read", "orders:write", "orders:write", "orders:write"]


@pytest.mark.parametrize("text", ["orders=orders", "/orders", "/orders=", "/orders=orders,only-one",
                                  "/a=x;/a=y"])
def test_a_bad_routes_setting_is_refused_naming_the_setting(text: str) -> None:
    with pytest.raises(ValidationError, match=r"gateway\.routes"):
        parse_routes(text)
