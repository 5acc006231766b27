"""Liveness, readiness and metrics: what orchestrators and Prometheus poll.

Ready means "can take orders": the store answers, and every background worker of the process
(the Kafka intake, the services' consumers: `WORKERS`) is still running; one that ended without
being told to is named in `checks` ("worker:<name>") and /ready answers 503 until the process is
restarted. The broker is not part of it: while it is down the outbox keeps every event and the
relay sends them once it is back, so a broker outage shows as `"status": "degraded"` (still 200)
with the broker's problem in `checks`; the outbox lag (orderhex_outbox_lag_seconds) is what to
alert on. The checks run in a background thread
(`HealthWatch`), so /ready answers from the last result at once, whatever a check costs (a
PostgreSQL connect timeout, a broker that accepts connections but does not answer).
"""

# No `from __future__ import annotations`: FastAPI reads these signatures at run time, and
# their Annotated dependencies refer to local variables a string annotation cannot resolve.
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel

from adapters.inbound.rest.metrics import CONTENT_TYPE, Metrics
from adapters.inbound.rest.problems import ProblemResponse, problem, problem_responses
from adapters.inbound.rest.representations import HealthOut
from ports.control import Control

log = logging.getLogger("orderhex.health")



WORKER_PREFIX = "worker:"


def essential(component: str) -> bool:
    """The components without which this process takes no command: its stores ("storage", or one
    per service: "orders.storage", ...) and its workers ("worker:kafka-command-intake")."""
    return component == "storage" or component.endswith(".storage") or component.startswith(WORKER_PREFIX)


class Workers:
    """The background workers running in this process, each with a check that returns what is
    wrong with it ("died: ...") or None. Process-wide, like the threads themselves: a worker
    attaches when it starts and detaches when told to stop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checks: dict[str, Callable[[], str | None]] = {}

    def attach(self, name: str, check: Callable[[], str | None]) -> None:
        with self._lock:
            self._checks[name] = check

    def detach(self, name: str) -> None:
        with self._lock:
            self._checks.pop(name, None)

    def checks(self) -> dict[str, str]:
        with self._lock:
            checks = dict(self._checks)
        return {WORKER_PREFIX + name: check() or "ok" for name, check in checks.items()}


WORKERS = Workers()


class ReadinessOut(BaseModel):
    status: str  # "ready" | "degraded"
    checks: dict[str, str]
    checked_seconds_ago: float


class HealthWatch:
    """Runs `check()` (component -> "ok" or what is wrong) every `interval` seconds in a daemon
    thread and keeps the last result; a change of a component's state is logged once."""

    def __init__(self, check: Callable[[], dict[str, str]], interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._check = check
        self.interval = interval
        self._clock = clock
        self._stop = threading.Event()
        self._first = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._result: dict[str, str] | None = None
        self._at = 0.0

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="health-watch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(5)

    def latest(self) -> tuple[dict[str, str] | None, float]:
        """The last result and its age in seconds (None before the first check ended)."""
        with self._lock:
            return self._result, self._clock() - self._at

    def wait_first(self, timeout: float) -> bool:
        return self._first.wait(timeout)

    def check_now(self) -> dict[str, str]:
        try:
            result = self._check()
        except Exception as exc:  # the watch must outlive any one failing check
            result = {"checks": f"{type(exc).__name__}: {exc}"}
        with self._lock:
            before, self._result, self._at = self._result, result, self._clock()
        for name, state in result.items():
            was = (before or {}).get(name)
            if state != was and (was is not None or state != "ok"):
                if state == "ok":
                    log.info("%s answers again", name, extra={"component": name, "state": "ok"})
                else:
                    log.warning("%s does not answer: %s", name, state, extra={"component": name, "state": "down"})
        self._first.set()
        return result

    def _run(self) -> None:
        while not self._stop.is_set():
            self.check_now()
            self._stop.wait(self.interval)


def operations_router(control: Control, metrics: Metrics, retry_after_seconds: int,
                      health_interval: float = 1.0) -> APIRouter:
    watch = HealthWatch(lambda: {**control.check_health(), **WORKERS.checks()}, health_interval)
    metrics.watch_outbox(control.outbox_status)
    stale_after = max(10.0, 5 * health_interval)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        watch.start()
        try:
            yield
        finally:
            watch.stop()

    router = APIRouter(tags=["operations"], lifespan=lifespan)

    @router.get("/health", response_model=HealthOut, summary="The process is alive")
    async def health() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @router.get("/ready", response_model=ReadinessOut, summary="Orders can be taken (the store answers)",
                description="200 when the store answers: `ready`, or `degraded` when another component (the "
                            "broker) does not, which the outbox rides out. 503 when the store does not answer, "
                            "or a background worker (`worker:<name>`) has died. "
                            "Answered from checks run every second in the background.",
                responses=problem_responses(503))
    async def ready(request: Request) -> JSONResponse | ProblemResponse:
        checks, age = watch.latest()
        if checks is None:
            watch.start()  # an app run without its lifespan (some test clients) checks on demand
            await run_in_threadpool(watch.wait_first, 2.0)
            checks, age = watch.latest()
        headers = {"Retry-After": str(retry_after_seconds)}
        if checks is None:
            return problem(503, "not ready: the first health check has not finished", kind="not-ready",
                           request=request, checks={}, headers=headers)
        if age > stale_after:
            return problem(503, f"not ready: the health check has not finished for {age:.0f} s", kind="not-ready",
                           request=request, checks=checks, headers=headers)
        down = {name: state for name, state in checks.items() if state != "ok"}
        essential_down = {name: state for name, state in down.items() if essential(name) or name == "checks"}
        if essential_down:
            shown = ", ".join(f"{name}: {state}" for name, state in essential_down.items())
            return problem(503, f"not ready: {shown}", kind="not-ready", request=request, checks=checks,
                           headers=headers)
        return JSONResponse({"status": "degraded" if down else "ready", "checks": checks,
                             "checked_seconds_ago": round(max(age, 0.0), 3)})

    @router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics",
                responses={200: {"content": {CONTENT_TYPE.split(";")[0]: {"schema": {"type": "string"}}}}})
    async def prometheus() -> PlainTextResponse:
        # Rendering reads the outbox (a store query): off the event loop.
        return PlainTextResponse(await run_in_threadpool(metrics.render), media_type=CONTENT_TYPE)

    return router
