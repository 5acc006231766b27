"""`orderhex sagas` as real processes: the Mermaid graph with no store, bad input (one line on
stderr, exit 2), and operating a saga of a running `orderhex serve` with --url/--token."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.orders.sagas import PLACE_ORDER
from core.runtime.saga import to_mermaid
from tests.served import ORDERHEX, Serve

TOKEN = "sagas-cli-admin-token-0123456789"
ORDER = {"customer_id": "c-1", "currency": "EUR", "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price": "9.99"}]}


def orderhex(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERHEX_")}
    env["ORDERHEX_DATA_DIR"] = str(cwd / "data")
    return subprocess.run([str(ORDERHEX), "sagas", *args], check=False, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)


def test_graph_prints_the_definition_as_mermaid_and_opens_no_store(tmp_path):
    done = orderhex(tmp_path, "graph", "place-order")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == to_mermaid(PLACE_ORDER)
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("args", [
    ("graph", "make-tea"),
    ("skip", "o-1", "reserve-stock"),          # skip needs --reason
    ("list", "--state", "asleep"),
    ("dance", "o-1"),
    ("show", "o-1", "--url", "http://127.0.0.1:9"),  # --url needs --token
], ids=["unknown-definition", "skip-without-reason", "unknown-state", "unknown-action", "url-without-token"])
def test_bad_input_is_one_line_on_stderr_and_exit_2(tmp_path, args):
    done = orderhex(tmp_path, *args)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("orderhex: ")
    assert done.stdout == ""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Serve]:
    server = Serve(tmp_path, {"api.admin_token": TOKEN})
    yield server
    server.stop()


@pytest.mark.slow
def test_a_served_sagas_are_listed_paused_and_shown_through_url(tmp_path, served):
    # With the relay paused the saga's commands stay in the outbox: it waits, so it can be paused.
    relay = httpx.post(f"{served.url}/admin/relay/pause", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert relay.status_code == 200
    order_id = httpx.post(f"{served.url}/orders", json=ORDER, timeout=10).json()["order_id"]
    attach = ("--url", served.url, "--token", TOKEN)
    listed = orderhex(tmp_path, "list", *attach)
    assert listed.returncode == 0, listed.stderr
    assert order_id in listed.stdout and "waiting" in listed.stdout
    paused = orderhex(tmp_path, "pause", order_id, "--reason", "checking payments", *attach)
    assert paused.returncode == 0, paused.stderr
    assert "operator: paused: checking payments" in paused.stdout
    again = orderhex(tmp_path, "pause", order_id, *attach)
    assert again.returncode == 2
    assert again.stderr.splitlines() == [f"orderhex: error: saga {order_id} is paused: cannot pause"]
    only_paused = orderhex(tmp_path, "list", "--state", "paused", "--json", *attach)
    assert [row["saga_id"] for row in json.loads(only_paused.stdout)] == [order_id]
