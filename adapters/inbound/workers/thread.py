"""A blocking worker run in a thread of a long-running process (`serve` runs the Kafka intake so)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable


class ThreadWorker:
    """Runs a blocking `target(stop)` (such as the Kafka command intake) in a thread for `serve`;
    `stop()` sets the event and waits until the target has returned, calling `interrupt` (which
    ends a wait for the broker) meanwhile, for `timeout` seconds at most."""

    def __init__(self, target: Callable[[threading.Event], None], name: str, join_timeout: float = 30.0,
                 interrupt: Callable[[], None] | None = None) -> None:
        self.name = name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=target, args=(self._stop,), name=name, daemon=True)
        self._join_timeout = join_timeout
        self._interrupt = interrupt

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> bool:
        """True when the thread has ended."""
        self._stop.set()
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
