"""Suite-wide rules: under CI=true a test that needs a real server may not skip; a test marked
`manual` runs its applications and `orderhex` processes with saga.mode = "manual"."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator

import pytest

import bootstrap
from tests.fixtures_kafka import SUBPROCESS_DEFAULTS

SERVER_MARKERS = ("postgres", "kafka", "etcd")
pytest_plugins = ["tests.fixtures_kafka", "tests.fixtures_postgres", "tests.fixtures_etcd"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") == "true" and report.skipped and any(item.get_closest_marker(m) for m in SERVER_MARKERS):
        report.outcome = "failed"
        report.longrepr = f"{item.nodeid}: skipped under CI=true, but a missing server must not pass as green"


@pytest.fixture(autouse=True)
def _manual_when_marked(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests of the relay, the intake and the order lifecycle count outbox rows and act on pending
    orders by hand: a saga (orchestrated or choreographed) would send or react and decide the order
    first, so they run with people deciding (the sagas have tests of their own)."""
    if request.node.get_closest_marker("manual"):
        monkeypatch.setitem(bootstrap.SETTINGS, "saga.mode",
                            dataclasses.replace(bootstrap.SETTINGS["saga.mode"], default="manual"))
        monkeypatch.setitem(SUBPROCESS_DEFAULTS, "saga.mode", "manual")
    yield
