"""Hostile values at every door: a lone surrogate, NUL or an oversize string in an id, SKU, key or
reason, and money no store can hold exactly ("1e999999999", 1000 x "9e999999", "1e-9999999", a
total past the bound). Each is refused naming the field, the first time, by the REST app served
by uvicorn on 127.0.0.1 (422), a real `orderhex` command line (one line on stderr, exit 2) and the Kafka command
intake on the embedded broker (a dead letter with the reason, then the next good message is
handled). Storage is SQLite, whose driver fails on a lone surrogate if one gets through."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.kernel.fields import MAX_TEXT_LENGTH
from core.orders.queries import GetOrder
from tests.e2e.test_intake_kafka import PLACE, Intake, replies
from tests.fixtures_kafka import orders_topics
from tests.integration.rest.conftest import LiveServer, make_api, make_application
from tests.served import ORDERHEX

LONG = "c" * 10_000  # a customer id like the 10 MB one, but under the 64 KiB body limit
TOP = "999999999999"  # the highest whole unit price (12 digits)
LINE = {"sku": "SKU-1", "quantity": 2, "unit_price": "9.99"}
ORDER = {"customer_id": "c-1", "currency": "EUR", "lines": [LINE]}

# (test id, the PlaceOrder body, the fields the refusal must name). Shared by REST and Kafka.
HOSTILE_ORDERS: list[tuple[str, dict[str, Any], set[str]]] = [
    ("surrogate-customer", {**ORDER, "customer_id": "c\ud800"}, {"customer_id"}),
    ("surrogate-sku", {**ORDER, "lines": [{**LINE, "sku": "S\ud800"}]}, {"lines[0].sku"}),
    ("surrogate-key", {**ORDER, "idempotency_key": "k\ud800"}, {"idempotency_key"}),
    ("nul-customer", {**ORDER, "customer_id": "c\x00"}, {"customer_id"}),
    ("long-customer", {**ORDER, "customer_id": LONG}, {"customer_id"}),
    ("long-sku", {**ORDER, "lines": [{**LINE, "sku": "S" * (MAX_TEXT_LENGTH + 1)}]}, {"lines[0].sku"}),
    ("long-key", {**ORDER, "idempotency_key": "k" * (MAX_TEXT_LENGTH + 1)}, {"idempotency_key"}),
    ("huge-price", {**ORDER, "lines": [{**LINE, "unit_price": "1e999999999"}]}, {"lines[0].unit_price"}),
    ("thousand-huge-prices", {**ORDER, "lines": [{**LINE, "quantity": 1, "unit_price": "9e999999"}] * 1000},
     {f"lines[{n}].unit_price" for n in range(1000)}),
    ("tiny-price", {**ORDER, "lines": [{**LINE, "unit_price": "1e-9999999"}]}, {"lines[0].unit_price"}),
    ("total-past-the-bound", {**ORDER, "lines": [{"sku": "A", "quantity": 1000, "unit_price": TOP},
                                                 {"sku": "B", "quantity": 1000, "unit_price": TOP}]}, {"lines"}),
]
IDS = [case[0] for case in HOSTILE_ORDERS]


def encoded(body: Any) -> bytes:
    """JSON with non-ASCII escaped, the way a client writes a lone surrogate ("\\ud800")."""
    return json.dumps(body, separators=(",", ":")).encode()


# -- REST: the app over real HTTP -------------------------------------------------------------------

class Served:
    """The whole REST app (every service) on SQLite, served by uvicorn on a free loopback port, with
    what it logged at ERROR (an unhandled exception is logged there before its 500)."""

    def __init__(self, data_dir: Path) -> None:
        self.application = make_application(data_dir, **{"storage.adapter": "sqlite"})
        self.server = LiveServer(make_api(self.application))
        self.url = self.server.url
        self.errors: list[str] = []
        handler = logging.Handler(logging.ERROR)
        handler.emit = lambda record: self.errors.append(record.getMessage())  # type: ignore[method-assign]
        self.handler = handler

    def __enter__(self) -> Served:
        logging.getLogger().addHandler(self.handler)
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)
        logging.getLogger().removeHandler(self.handler)
        self.application.close()


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with Served(tmp_path_factory.mktemp("hostile")) as served:
        yield served


def post(serve: Served, path: str, body: Any, method: str = "POST", **headers: str | bytes) -> httpx.Response:
    return httpx.request(method, serve.url + path, content=encoded(body), timeout=10,
                         headers={"Content-Type": "application/json", **headers})


def assert_refused(response: httpx.Response, fields: set[str]) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert {e["field"] for e in response.json()["errors"]} == fields


@pytest.mark.parametrize(("body", "fields"), [case[1:] for case in HOSTILE_ORDERS], ids=IDS)
def test_rest_refuses_a_hostile_order_with_422_naming_the_field(serve: Served, body: dict[str, Any],
                                                                fields: set[str]) -> None:
    assert_refused(post(serve, "/orders", body), fields)


@pytest.mark.parametrize(("key", "field"), [
    (b"k\xed\xa0\x80", "header.Idempotency-Key"),  # a lone surrogate, as UTF-8-like bytes
    (b"k\xff", "header.Idempotency-Key"),
    ("k" * (MAX_TEXT_LENGTH + 1), "header.Idempotency-Key"),
], ids=["encoded-surrogate", "not-utf8", "long"])
def test_rest_refuses_an_idempotency_key_header_no_store_can_keep(serve: Served, key: str | bytes,
                                                                   field: str) -> None:
    assert_refused(post(serve, "/orders", ORDER, **{"Idempotency-Key": key}), {field})


def test_rest_reads_a_utf8_idempotency_key_header_as_the_text_it_is(serve: Served) -> None:
    key = "clé-ü"
    first = post(serve, "/orders", {**ORDER, "idempotency_key": key}, **{"Idempotency-Key": key.encode()})
    assert first.status_code == 201, first.text
    again = post(serve, "/orders", ORDER, **{"Idempotency-Key": key.encode()})
    assert (again.status_code, again.json()["order_id"]) == (200, first.json()["order_id"])


SERVICE_ROUTES: list[tuple[str, str, dict[str, Any], str]] = [
    ("POST", "/orders/o-1/cancel", {"reason": "r" * (MAX_TEXT_LENGTH + 1)}, "reason"),
    ("POST", "/orders/o-1/reject", {"reason": "r\ud800"}, "reason"),
    ("POST", f"/inventory/stock/{'S' * (MAX_TEXT_LENGTH + 1)}/restock", {"quantity": 1}, "sku"),
    ("POST", "/inventory/reservations", {"order_id": "o-1", "lines": [{"sku": "S\ud800", "quantity": 1}]},
     "lines[0].sku"),
    ("POST", "/inventory/reservations", {"order_id": "o\x00", "lines": [{"sku": "S", "quantity": 1}]}, "order_id"),
    ("PUT", f"/payments/accounts/{'c' * (MAX_TEXT_LENGTH + 1)}", {"credit_limit": "5.00"}, "customer_id"),
    ("POST", "/payments/payments", {"order_id": "o-1", "customer_id": "c\ud800", "amount": "1.00"}, "customer_id"),
    ("POST", "/shipping/shipments", {"order_id": "o\ud800", "customer_id": "c-1"}, "order_id"),
    ("POST", "/shipping/shipments", {"order_id": "o-1", "customer_id": "c-1", "address": "1 Main St\ud800"},
     "address"),
    ("POST", "/shipping/shipments/o-1/cancel", {"reason": LONG}, "reason"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), SERVICE_ROUTES,
                         ids=[f"{m} {p[:30]} {f}" for m, p, _, f in SERVICE_ROUTES])
def test_every_services_routes_refuse_a_hostile_string_naming_the_field(
        serve: Served, method: str, path: str, body: dict[str, Any], field: str) -> None:
    assert_refused(post(serve, path, body, method), {field})


def test_after_every_hostile_request_the_server_still_places_orders_and_logged_no_crash(serve: Served) -> None:
    for _, body, _ in HOSTILE_ORDERS:
        assert post(serve, "/orders", body).status_code == 422
    placed = post(serve, "/orders", ORDER)
    assert placed.status_code == 201, placed.text
    assert httpx.get(f"{serve.url}/ready", timeout=5).status_code == 200
    assert serve.errors == [], "nothing went unhandled"


# -- CLI: a real `orderhex` process -----------------------------------------------------------------

def orderhex(data_dir: Path, *argv: str | bytes) -> subprocess.CompletedProcess[str]:
    """`orderhex ARGV` on a SQLite store; bytes arguments go to the process as they are, the way a
    shell passes what is not UTF-8."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERHEX_")}
    env |= {"ORDERHEX_DATA_DIR": str(data_dir), "ORDERHEX_STORAGE__ADAPTER": "sqlite", "ORDERHEX_DEMO__SEED": "false"}
    command = [os.fsencode(ORDERHEX), *(a if isinstance(a, bytes) else a.encode() for a in argv)]
    return subprocess.run(command, check=False, capture_output=True, text=True, timeout=60, env=env,
                          cwd=data_dir)


CLI_CASES: list[tuple[tuple[str | bytes, ...], str]] = [
    # Bytes that are not UTF-8 are refused by the CLI itself, naming the argument, for every command.
    (("place", "--customer", b"c\xed\xa0\x80", "--item", "SKU-1:1:9.99"), "customer: must be valid UTF-8 text"),
    (("place", "--customer", "c" * (MAX_TEXT_LENGTH + 1), "--item", "SKU-1:1:9.99"),
     "customer_id: must be at most 200 characters, got 201"),
    (("place", "--customer", "c-1", "--item", b"S\xed\xa0\x80:1:9.99"), "item: must be valid UTF-8 text"),
    (("place", "--customer", "c-1", "--item", "S" * (MAX_TEXT_LENGTH + 1) + ":1:9.99"),
     "lines[0].sku: must be at most 200 characters"),
    (("place", "--customer", "c-1", "--item", "SKU-1:1:9.99", "--idempotency-key", b"k\xff"),
     "idempotency_key: must be valid UTF-8 text"),
    (("place", "--customer", "c-1", "--item", "SKU-1:1:1e999999999"), "without an exponent"),
    (("place", "--customer", "c-1", "--item", "SKU-1:1:1e-9999999"), "without an exponent"),
    (("place", "--customer", "c-1", "--item", f"A:1000:{TOP}", "--item", f"B:1000:{TOP}"),
     "lines: the order's total 1999999999998000.00 EUR has more than 15 digits before the point"),
    (("cancel", "o-1", "--reason", "r" * (MAX_TEXT_LENGTH + 1)), "reason: must be at most 200 characters"),
    (("reject", "o-1", "--reason", b"r\xed\xa0\x80"), "reason: must be valid UTF-8 text"),
    (("show", b"o\xed\xa0\x80"), "order_id: must be valid UTF-8 text"),
    (("orders", "--customer", b"c\xff"), "customer: must be valid UTF-8 text"),
    (("stock", "restock", "S" * (MAX_TEXT_LENGTH + 1), "1"), "sku: must be at most 200 characters"),
    (("accounts", "open", b"c\xed\xa0\x80", "--limit", "5.00"), "customer: must be valid UTF-8 text"),
    (("accounts", "open", "c" * (MAX_TEXT_LENGTH + 1), "--limit", "5.00"), "customer_id: must be at most 200"),
    (("shipments", "dispatch", "o" * (MAX_TEXT_LENGTH + 1)), "order_id: must be at most 200 characters"),
]


@pytest.mark.parametrize(("argv", "message"), CLI_CASES, ids=[f"{a[0]}-{m.split(':')[0]}-{n}"
                                                             for n, (a, m) in enumerate(CLI_CASES)])
def test_the_cli_refuses_a_hostile_value_on_one_line_with_exit_2(tmp_path: Path, argv: tuple[str | bytes, ...],
                                                                 message: str) -> None:
    done = orderhex(tmp_path, *argv)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("orderhex: error: "), done.stderr
    assert message in done.stderr and done.stdout == ""


def test_the_cli_still_places_an_order_on_the_store_it_refused_hostile_values_for(tmp_path: Path) -> None:
    assert orderhex(tmp_path, "place", "--customer", b"c\xed\xa0\x80", "--item", "SKU-1:1:9.99").returncode == 2
    done = orderhex(tmp_path, "place", "--customer", "c-1", "--item", "SKU-1:1:9.99")
    assert done.returncode == 0 and done.stdout.startswith("placed "), done.stderr


# -- Kafka: the command intake on the embedded broker -----------------------------------------------

@pytest.fixture
def intake(tmp_path: Path, kafka_config: dict[str, Any]) -> Iterator[Intake]:
    running = Intake(tmp_path, {**kafka_config, "storage.adapter": "sqlite"})
    yield running
    running.close()


@pytest.mark.kafka
def test_the_kafka_intake_dead_letters_each_hostile_value_first_time_naming_the_field(intake: Intake) -> None:
    hostile = [(name, {"type": "PlaceOrder", **body}, fields) for name, body, fields in HOSTILE_ORDERS]
    hostile.append(("surrogate-cancel-reason", {"type": "CancelOrder", "order_id": "o-1", "reason": "r\ud800"},
                    {"reason"}))
    intake.start()
    for name, body, _ in hostile:
        intake.send(encoded(body), message_id=name)
    intake.send(encoded(PLACE), idempotency_key="k" * (MAX_TEXT_LENGTH + 1), message_id="long-key-header")
    # An encoded lone surrogate: bytes no UTF-8 decoder accepts (not read as U+FFFD and kept).
    intake.send(encoded(PLACE), idempotency_key=b"k\xed\xa0\x80", message_id="undecodable-key-header")
    intake.send(encoded(PLACE), message_id="good")
    intake.handled(len(hostile) + 3)

    dead = {m.id: m for m in intake.read(orders_topics(intake.config).dead_letters, len(hostile) + 2)}
    assert set(dead) == {name for name, _, _ in hostile} | {"long-key-header", "undecodable-key-header"}
    for name, _, fields in [*hostile, ("long-key-header", None, {"idempotency_key"}),
                            ("undecodable-key-header", None, {"idempotency_key"})]:
        reason = dead[name].headers["error"]
        # Refused as invalid input on the first delivery: not a crash retried and dead-lettered as a bug.
        assert reason.startswith(("ValidationError: ", "InvalidFields: ")), reason
        first = min(fields, key=lambda field: (len(field), field))  # lines[0] of a thousand bad lines
        assert reason.split(": ")[1] == first, reason
    assert intake.intake.counts.rejected == len(hostile) + 2
    outcome = {r["message_id"]: r for r in replies(intake, len(hostile) + 3)}
    assert {outcome[name]["status"] for name in dead} == {"rejected"}
    assert outcome["good"]["status"] == "accepted"
    assert intake.app.ordering.get(GetOrder(order_id=outcome["good"]["order_id"])).customer_id == "c-k"
