"""A blocking worker run in a thread of a long-running process (`serve` runs the Kafka intake so)."""

from __future__ import annotations

import threading
from collections.abc import Callable


class ThreadWorker:
    """Runs a blocking `target(stop)` (such as the Kafka command intake) in a thread for `serve`;
    `stop()` sets the event and waits until the target has returned."""

    def __init__(self, target: Callable[[threading.Event], None], name: str, join_timeout: float = 30.0) -> None:
        self.name = name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=target, args=(self._stop,), name=name, daemon=True)
        self._join_timeout = join_timeout

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self._join_timeout)
