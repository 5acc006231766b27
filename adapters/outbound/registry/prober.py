"""The active health checker: GET `<address>/health` of every registered instance, every
interval, on a thread, and feed each result to a HealthBoard (core/runtime/health.py), which
decides up and down with hysteresis. Probes of one round run in parallel, so one instance that
hangs until the timeout does not delay the others' verdicts."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

import httpx

from core.runtime.health import HealthBoard, ProbeResult
from ports.registry import InstanceRecord

log = logging.getLogger("orderhex.health")


class Prober:
    """`targets()` says which instances to probe now (the registry's, or the partition guard's
    list); instances no longer listed are forgotten by the board after the round."""

    def __init__(self, board: HealthBoard, targets: Callable[[], Iterable[InstanceRecord]], *,
                 interval: float = 1.0, timeout: float = 1.0, path: str = "/health", workers: int = 8) -> None:
        self.board = board
        self._targets = targets
        self.interval = interval
        self.timeout = timeout
        self._path = path
        self._http = httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="health-probe")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health-prober", daemon=True)

    def probe(self, record: InstanceRecord) -> ProbeResult:
        started = time.perf_counter()
        try:
            response = self._http.get(record.address.rstrip("/") + self._path)
        except httpx.TimeoutException:
            return ProbeResult(False, f"timeout after {self.timeout:g} s")
        except httpx.ConnectError as exc:
            refused = "refused" in str(exc).lower()
            return ProbeResult(False, "connection refused" if refused else f"cannot connect: {exc}")
        except httpx.TransportError as exc:
            return ProbeResult(False, f"{type(exc).__name__}: {exc}")
        latency = (time.perf_counter() - started) * 1000
        return ProbeResult(response.is_success, f"HTTP {response.status_code}", latency)

    def probe_all(self) -> None:
        """One round: probe every target and record the results."""
        targets = list(self._targets())
        results = self._pool.map(self.probe, targets)
        for record, result in zip(targets, results, strict=True):
            transition = self.board.record(record.key, result)
            if transition is not None:
                log.log(logging.WARNING if transition.state == "down" else logging.INFO,
                        "%s at %s is %s: %s", record.key, record.address, transition.state, transition.reason,
                        extra={"service": record.service, "instance_id": record.instance_id,
                               "health": transition.state, "previous": transition.previous})
        self.board.retain(r.key for r in targets)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.timeout + 5)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._http.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self.probe_all()
            except Exception:
                log.exception("a health-check round failed")
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - began)))
