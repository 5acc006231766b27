"""Circuit breakers between real processes: `orderhex serve --service orders` reaches payments,
inventory and shipping (each its own `orderhex serve --service X`) over HTTP on 127.0.0.1 through
services.<name>.url, and guards each with a breaker (`http:<name>`).

Faults are injected into the payments process through its admin API or `orderhex faults set
--url`, as an operator would; payments is killed with SIGKILL and started again on its port. Each
process has its own data directory, as separate machines would (the orders process keeps its
forced breaker states in its own). Breaker windows are short (settings), waits are bounded polls.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_serve import ADMIN, TOKEN
from tests.served import ORDERHEX, Serve, free_port

pytestmark = pytest.mark.slow

MINIMUM_CALLS = 4
WAIT_IN_OPEN_MS = 800
# One attempt per call (no retries), so each overview is exactly one call the breaker counts.
BREAKER = {"breaker.window_size": 8, "breaker.minimum_calls": MINIMUM_CALLS, "breaker.failure_rate_percent": 50,
           "breaker.wait_in_open_ms": WAIT_IN_OPEN_MS, "breaker.max_wait_in_open_ms": WAIT_IN_OPEN_MS,
           "calls.retries": 0, "calls.timeout_ms": 2_000, "overview.part_timeout_ms": 2_500,
           "overview.deadline_ms": 3_000}
ORDER = {"customer_id": "c-1", "currency": "EUR", "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": "9.99"}]}
BREAKER_NAME = "http:payments"


def orderhex(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ORDERHEX), *args], capture_output=True, text=True, timeout=30, check=False)


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


class Shop:
    """orders + payments (restartable) beside long-lived inventory and shipping."""

    def __init__(self, root: Path, others: dict[str, Serve]) -> None:
        self.root = root
        self.payments_port = free_port()
        self.payments: Serve = self.start_payments()
        self.urls = {f"services.{name}.url": serve.url for name, serve in others.items()}
        self.orders: Serve = self.start_orders()

    def start_payments(self) -> Serve:
        data = self.root / "payments"
        data.mkdir(exist_ok=True)
        return Serve(data, {"storage.adapter": "sqlite", "faults.enabled": True, "api.admin_token": TOKEN,
                           "demo.seed": True},
                     port=self.payments_port, args=("--service", "payments"))

    def start_orders(self) -> Serve:
        data = self.root / "orders"
        data.mkdir(exist_ok=True)
        return Serve(data, {"storage.adapter": "sqlite", "api.admin_token": TOKEN, **BREAKER, **self.urls,
                            "services.payments.url": self.payments.url}, args=("--service", "orders"))

    def kill_payments(self) -> None:
        os.kill(self.payments.process.pid, signal.SIGKILL)
        self.payments.process.wait(10)

    def place_paid_order(self) -> str:
        placed = httpx.post(f"{self.orders.url}/orders", json=ORDER, timeout=10)
        assert placed.status_code == 201, placed.text
        order_id: str = placed.json()["order_id"]
        paid = httpx.post(f"{self.payments.url}/payments/payments", timeout=10, json={
            "order_id": order_id, "customer_id": "c-1", "amount": "9.99", "currency": "EUR"})
        assert paid.status_code == 201, paid.text
        return order_id

    def overview(self, order_id: str, require: str = "") -> httpx.Response:
        params = {"require": require} if require else None
        return httpx.get(f"{self.orders.url}/orders/{order_id}/overview", params=params, timeout=10)

    def payment_part(self, order_id: str) -> dict[str, Any]:
        response = self.overview(order_id)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return {**body["parts"]["payment"], "value": body["payment"]}

    def breaker(self) -> dict[str, Any]:
        listed = httpx.get(f"{self.orders.url}/admin/breakers", headers=ADMIN, timeout=10).json()
        found: dict[str, Any] = next(b for b in listed if b["name"] == BREAKER_NAME)
        return found

    def act(self, action: str, reason: str = "e2e test") -> dict[str, Any]:
        response = httpx.post(f"{self.orders.url}/admin/breakers/{BREAKER_NAME}/{action}", headers=ADMIN,
                              json={"reason": reason}, timeout=10)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def fault(self, **settings: float) -> None:
        response = httpx.put(f"{self.payments.url}/admin/faults/payments", headers=ADMIN, json=settings, timeout=10)
        assert response.status_code == 200, response.text

    def clear_fault(self) -> None:
        assert httpx.delete(f"{self.payments.url}/admin/faults/payments", headers=ADMIN, timeout=10).status_code == 204

    def stop(self) -> None:
        self.orders.stop()
        self.payments.stop()


@pytest.fixture(scope="module")
def others(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Serve]]:
    running: dict[str, Serve] = {}
    try:
        for name in ("inventory", "shipping"):
            data = tmp_path_factory.mktemp(name)
            running[name] = Serve(data, {"demo.seed": True}, args=("--service", name))
        yield running
    finally:
        for serve in running.values():
            serve.stop()


@pytest.fixture
def shop(tmp_path: Path, others: dict[str, Serve]) -> Iterator[Shop]:
    shop = Shop(tmp_path, others)
    try:
        yield shop
    finally:
        shop.stop()


def open_by_failures(shop: Shop, order_id: str) -> None:
    """After one good call, MINIMUM_CALLS - 1 failed ones open the breaker: its window then holds
    MINIMUM_CALLS calls, 75% of them failed (threshold 50%); not one call more is made."""
    for _ in range(MINIMUM_CALLS - 1):
        part = shop.payment_part(order_id)
        assert part["status"] == "error", part
    snapshot = shop.breaker()
    assert snapshot["state"] == "open" and snapshot["calls"] == MINIMUM_CALLS, snapshot
    assert snapshot["failures"] == MINIMUM_CALLS - 1 and snapshot["failure_rate"] == 0.75, snapshot


def test_errors_injected_into_payments_open_its_breaker_and_one_probe_closes_it(shop: Shop) -> None:
    order_id = shop.place_paid_order()
    live = shop.payment_part(order_id)
    assert live["status"] == "ok" and live["source"] == "live" and live["value"]["amount"] == "9.99", live
    cli = orderhex("faults", "set", "payments", "--error-rate", "1", "--url", shop.payments.url, "--token", TOKEN)
    assert cli.returncode == 0, cli.stderr

    open_by_failures(shop, order_id)
    # Open: the call is not made; the overview answers with the last value it read, and says so.
    rejected_before = shop.breaker()["rejected"]
    fast = shop.payment_part(order_id)
    assert fast["status"] == "open_circuit" and fast["source"] == "last_known", fast
    assert fast["value"]["amount"] == "9.99"
    after = shop.breaker()
    assert after["rejected"] == rejected_before + 1 and after["failures"] == MINIMUM_CALLS - 1, after

    # Healthy again but slow (0.6 s a call): once half-open, of six concurrent callers exactly one
    # is let through as the probe; the others are rejected while it is in flight.
    shop.fault(latency=0.6)
    wait_for(lambda: shop.breaker()["state"] == "half-open", 10, "the breaker did not turn half-open")
    with ThreadPoolExecutor(6) as pool:
        parts = list(pool.map(lambda _: shop.payment_part(order_id), range(6)))
    statuses = sorted(part["status"] for part in parts)
    assert statuses == ["ok"] + ["open_circuit"] * 5, statuses
    closed = shop.breaker()
    assert closed["state"] == "closed" and closed["successes"] >= 2, closed
    shop.clear_fault()
    assert shop.payment_part(order_id)["status"] == "ok"


def test_a_killed_payments_opens_the_breaker_and_a_restart_closes_it(shop: Shop) -> None:
    order_id = shop.place_paid_order()
    assert shop.payment_part(order_id)["status"] == "ok"
    shop.kill_payments()

    open_by_failures(shop, order_id)
    fast = shop.payment_part(order_id)
    assert fast["status"] == "open_circuit" and fast["value"]["amount"] == "9.99", fast

    shop.payments = shop.start_payments()  # same port, same SQLite file: the payment is still there
    back = wait_for(lambda: (part := shop.payment_part(order_id))["status"] == "ok" and part, 10,
                    "the overview did not read payments again after its restart")
    assert back["source"] == "live" and back["value"]["amount"] == "9.99"
    assert shop.breaker()["state"] == "closed"


def test_a_forced_open_breaker_stays_open_through_a_healthy_payments_until_reset(shop: Shop) -> None:
    order_id = shop.place_paid_order()
    assert shop.payment_part(order_id)["status"] == "ok"
    forced = shop.act("force-open", "payments is being migrated")
    assert forced["state"] == "forced-open" and forced["reason"] == "payments is being migrated", forced

    time.sleep(WAIT_IN_OPEN_MS / 1000 * 1.5)  # longer than an ordinary open breaker waits
    for _ in range(3):
        assert shop.payment_part(order_id)["status"] == "open_circuit"
    snapshot = shop.breaker()
    assert snapshot["state"] == "forced-open" and snapshot["would_be"] == "closed", snapshot
    assert snapshot["next_probe_at"] is None, "a forced-open breaker never probes by itself"

    assert shop.act("reset")["state"] == "closed"
    assert shop.payment_part(order_id)["status"] == "ok"


def test_metrics_only_never_rejects_and_shows_what_it_would_do(shop: Shop) -> None:
    order_id = shop.place_paid_order()
    assert shop.payment_part(order_id)["status"] == "ok"
    shop.act("metrics-only", "measuring payments before enforcing")
    shop.fault(error_rate=1.0)
    statuses = {shop.payment_part(order_id)["status"] for _ in range(2 * MINIMUM_CALLS)}
    assert statuses == {"error"}, "metrics-only lets every call through"
    snapshot = shop.breaker()
    assert snapshot["state"] == "metrics-only" and snapshot["would_be"] == "open", snapshot
    assert snapshot["rejected"] == 0 and snapshot["failure_rate"] == 1.0, snapshot


def test_a_forced_state_survives_a_restart_of_the_orders_process(shop: Shop) -> None:
    order_id = shop.place_paid_order()
    assert shop.payment_part(order_id)["status"] == "ok"
    shop.act("force-open", "kept across restarts")
    assert shop.orders.terminate() == 0

    shop.orders = shop.start_orders()
    snapshot = shop.breaker()
    assert snapshot["state"] == "forced-open" and snapshot["reason"] == "kept across restarts", snapshot
    assert shop.payment_part(order_id)["status"] == "open_circuit"
    shop.act("reset")
    assert shop.payment_part(order_id)["status"] == "ok"


def test_the_overview_is_partial_while_payments_is_down_and_503_when_payment_is_required(shop: Shop) -> None:
    order_id = shop.place_paid_order()
    shop.kill_payments()

    partial = shop.overview(order_id)
    assert partial.status_code == 200, partial.text
    parts = partial.json()["parts"]
    assert parts["payment"]["status"] == "error" and parts["payment"]["source"] == "none", parts
    assert {name: parts[name]["status"] for name in ("order", "stock", "shipment")} == \
        {"order": "ok", "stock": "ok", "shipment": "ok"}
    assert partial.json()["complete"] is False

    refused = shop.overview(order_id, require="payment,stock")
    assert refused.status_code == 503, refused.text
    problem = refused.json()
    assert problem["missing"] == ["payment"] and "payment" in problem["detail"], problem
    assert shop.overview(order_id, require="stock,shipment").status_code == 200


def test_faults_are_refused_by_a_process_started_without_faults_enabled(shop: Shop) -> None:
    refused = httpx.put(f"{shop.orders.url}/admin/faults/payments", headers=ADMIN, json={"error_rate": 0.5},
                        timeout=10)
    assert refused.status_code == 422 and "faults.enabled = true" in refused.json()["detail"], refused.text
    cli = orderhex("faults", "set", "payments", "--error-rate", "0.5", "--latency", "2s", "--url", shop.orders.url,
                   "--token", TOKEN)
    assert cli.returncode == 2 and cli.stdout == ""
    assert cli.stderr.count("\n") == 1 and "faults.enabled = true" in cli.stderr, cli.stderr
    here = orderhex("faults", "set", "payments", "--error-rate", "0.5")  # no process named: nothing to change
    assert here.returncode == 2 and here.stderr.count("\n") == 1 and "--url" in here.stderr, here.stderr


def test_faults_set_from_the_cli_change_what_a_running_payments_answers(shop: Shop) -> None:
    cli = orderhex("faults", "set", "payments", "--error-rate", "0.5", "--latency", "300ms", "--url",
                   shop.payments.url, "--token", TOKEN)
    assert cli.returncode == 0, cli.stderr
    listed = orderhex("faults", "list", "--json", "--url", shop.payments.url, "--token", TOKEN)
    assert '"error_rate": 0.5' in listed.stdout and '"latency": 0.3' in listed.stdout, listed.stdout

    codes = []
    with httpx.Client(base_url=shop.payments.url, timeout=10) as http:
        for _ in range(20):
            started = time.monotonic()
            codes.append(http.get("/payments/accounts/c-1").status_code)
            assert time.monotonic() - started >= 0.3, "every call gets the added latency"
    assert set(codes) == {200, 503}, codes  # both, with 20 draws at one half (odds of not: 2 in a million)

    cleared = orderhex("faults", "clear", "payments", "--url", shop.payments.url, "--token", TOKEN)
    assert cleared.returncode == 0, cleared.stderr
    assert [httpx.get(f"{shop.payments.url}/payments/accounts/c-1").status_code for _ in range(5)] == [200] * 5


def _readme_lines(block: int) -> list[str]:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("\n## Trip a circuit breaker\n", 1)[1].split("\n## ", 1)[0]
    return [line for line in re.findall(r"```sh\n(.*?)```", section, re.DOTALL)[block].splitlines() if line]


def test_the_readmes_trip_a_breaker_examples_run_as_written(tmp_path: Path) -> None:
    steps = [shlex.split(line, comments=True) for line in _readme_lines(0)]
    serve_line, dashboard_line, *rest = steps
    settings = {name.removeprefix("ORDERHEX_").lower().replace("__", "."): value
                for name, _, value in (arg.partition("=") for arg in serve_line if "=" in arg)}
    assert serve_line[-2:] == [".venv/bin/orderhex", "serve"] and dashboard_line[1] == "dashboard"
    server = Serve(tmp_path, {**settings, "demo.seed": True})
    try:
        order_id = httpx.post(f"{server.url}/orders", json=ORDER, timeout=10).json()["order_id"]

        def as_run(argv: list[str]) -> list[str]:
            return [str(ORDERHEX) if arg == ".venv/bin/orderhex" else
                    arg.replace("http://127.0.0.1:8000", server.url).replace("localhost:8000", server.url)
                    .replace("ORDER_ID", order_id) for arg in argv]

        for argv in rest:
            if argv[0] == "curl":  # the overview, read until its breaker opens (as the comment says)
                statuses = [json.loads(subprocess.run([*as_run(argv), "-sS"], capture_output=True, text=True,
                                                      timeout=30, check=True).stdout)["parts"]["payment"]["status"]
                            for _ in range(6)]
                assert statuses == ["error"] * 5 + ["open_circuit"], statuses
                continue
            done = subprocess.run(as_run(argv), capture_output=True, text=True, timeout=30, check=False)
            assert done.returncode == 0, (argv, done.stderr)
            if argv[1:3] == ["breakers", "list"]:
                assert "local:payments" in done.stdout and "open" in done.stdout, done.stdout
            if argv[2] == "force-open":
                assert "forced-open" in done.stdout and "payments is being migrated" in done.stdout, done.stdout

        for line in _readme_lines(1):  # the admin API's equivalents, each answered 2xx
            argv = as_run(shlex.split(line, comments=True))
            code = subprocess.run([*argv, "-sS", "-o", "/dev/null", "-w", "%{http_code}"], capture_output=True,
                                  text=True, timeout=30, check=True).stdout
            assert code.startswith("2"), (line, code)
    finally:
        server.stop()
