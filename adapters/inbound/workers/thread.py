"""A blocking worker run in a thread of a long-running process (`serve` runs the Kafka intake so)."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable

from adapters.inbound.rest.operations import WORKERS, Workers

log = logging.getLogger("orderhex.workers")


class ThreadWorker:
    """Runs a blocking `target(stop)` (such as the Kafka command intake) in a thread for `serve`;
    `stop()` sets the event and waits until the target has returned, calling `interrupt` (which
    ends a wait for the broker) meanwhile, for `timeout` seconds at most.

    A target that raises, or returns before it was told to stop, is logged at error level with
    its traceback and reported by `problem()`; while started the worker is attached to `workers`
    (the process's /ready), so a dead worker makes the process not ready instead of going quiet."""

    def __init__(self, target: Callable[[threading.Event], None], name: str, join_timeout: float = 30.0,
                 interrupt: Callable[[], None] | None = None, workers: Workers = WORKERS) -> None:
        self.name = name
        self._target = target
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._join_timeout = join_timeout
        self._interrupt = interrupt
        self._workers = workers
        self.failure: str | None = None

    def start(self) -> None:
        self._workers.attach(self.name, self.problem)
        self._thread.start()

    def problem(self) -> str | None:
        """What is wrong with this worker (it died, and why), or None while it runs as it should."""
        if self.failure is not None:
            return self.failure
        if self._thread.ident is not None and not self._thread.is_alive() and not self._stop.is_set():
            return "stopped without being told to"
        return None

    def _run(self) -> None:
        try:
            self._target(self._stop)
        except BaseException as exc:
            self.failure = f"died: {type(exc).__name__}: {exc}"
            log.exception("worker %s died: %s", self.name, exc,
                          extra={"event": "worker_died", "worker": self.name, "error": type(exc).__name__})
            return  # said above, with the traceback: the thread's own excepthook would say it again
        if not self._stop.is_set():
            self.failure = "stopped without being told to"
            log.error("worker %s stopped without being told to", self.name,
                      extra={"event": "worker_died", "worker": self.name})

    def stop(self, timeout: float | None = None) -> bool:
        """True when the thread has ended."""
        self._stop.set()
        self._workers.detach(self.name)
        deadline = time.monotonic() + (self._join_timeout if timeout is None else timeout)
        while self._thread.is_alive() and time.monotonic() < deadline:
            if self._interrupt is not None:
                # An adapter that cannot be reached now has nothing in flight to interrupt.
                with contextlib.suppress(Exception):
                    self._interrupt()
            self._thread.join(min(0.1, max(0.0, deadline - time.monotonic())))
        return not self._thread.is_alive()


class WorkerGroup:
    """Several workers started and stopped as one (each within what is left of the timeout)."""

    def __init__(self, workers: list[ThreadWorker], name: str) -> None:
        self.workers = workers
        self.name = name

    def start(self) -> None:
        for worker in self.workers:
            worker.start()

    def stop(self, timeout: float | None = None) -> bool:
        deadline = time.monotonic() + (30.0 if timeout is None else timeout)
        return all([worker.stop(max(0.1, deadline - time.monotonic())) for worker in self.workers])
