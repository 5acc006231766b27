"""A background worker (the Kafka intake, a service's consumer) that dies does not go quiet: its
death is logged with the traceback and the process's /ready answers 503 naming it, until a worker
that was told to stop is simply gone from the checks."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from adapters.inbound.workers.thread import ThreadWorker
from tests.integration.rest.conftest import make_api, make_application, open_client

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def crash(stop: threading.Event) -> None:
    """What a worker does when a bug escapes its loop."""
    raise RuntimeError("a bug nobody caught")


async def ready(path: Path) -> tuple[int, dict[str, str]]:
    """/ready of a fresh application of this process."""
    application = make_application(path)
    try:
        async for client in open_client(make_api(application)):
            response = await client.get("/ready")
            return response.status_code, response.json()["checks"]
    finally:
        application.close()
    raise AssertionError("the client did not open")


async def test_a_worker_that_dies_is_logged_and_makes_the_process_not_ready(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    worker = ThreadWorker(crash, "kafka-command-intake")
    with caplog.at_level(logging.ERROR, logger="orderhex.workers"):
        worker.start()
        try:
            deadline = time.monotonic() + 5
            while worker.problem() is None:
                assert time.monotonic() < deadline, "the worker did not die"
                time.sleep(0.01)
            status, checks = await ready(tmp_path)
        finally:
            worker.stop(5)
    assert status == 503
    assert checks["worker:kafka-command-intake"] == "died: RuntimeError: a bug nobody caught"
    [record] = [r for r in caplog.records if r.name == "orderhex.workers"]
    assert record.getMessage() == "worker kafka-command-intake died: a bug nobody caught" and record.exc_info


async def test_a_running_worker_is_ready_and_a_stopped_one_leaves_the_checks(tmp_path: Path) -> None:
    worker = ThreadWorker(lambda stop: stop.wait(), "kafka-command-intake")
    worker.start()
    try:
        status, checks = await ready(tmp_path)
        assert status == 200 and checks["worker:kafka-command-intake"] == "ok"
    finally:
        assert worker.stop(5)
    status, checks = await ready(tmp_path / "after")
    assert status == 200 and "worker:kafka-command-intake" not in checks
