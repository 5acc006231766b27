"""Suite-wide rules: under CI=true a test that needs a real server may not skip."""

from __future__ import annotations

import os

import pytest

SERVER_MARKERS = ("postgres", "kafka", "etcd")
pytest_plugins = ["tests.fixtures_kafka", "tests.fixtures_postgres", "tests.fixtures_etcd"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") == "true" and report.skipped and any(item.get_closest_marker(m) for m in SERVER_MARKERS):
        report.outcome = "failed"
        report.longrepr = f"{item.nodeid}: skipped under CI=true, but a missing server must not pass as green"
