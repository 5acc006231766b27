"""Runs the outbox relay: in a background thread (serve, dashboard) or in the foreground (`orderhex relay`)."""

from __future__ import annotations

import threading

from adapters.inbound.workers.relay_lock import RelayLock
from core.runtime.relay import RelayLoop


class RelayWorker:
    """Drives a RelayLoop until stopped; pause() keeps it alive but publishing nothing.

    When `lock` is given (SQLite and file stores, where only one relay may run) it is taken
    before the first round and held until the worker stops.
    """

    def __init__(self, loop: RelayLoop, lock: RelayLock | None = None) -> None:
        self.loop = loop
        self._lock = lock
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        # Held for the length of one round, so pause() can wait for the round under way.
        self._round = threading.Lock()
        self.running = False
        self.paused = False

    def start(self) -> None:
        """Run in a daemon thread. Raises Unavailable at once if another relay holds the lock."""
        self._acquire()
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
        self._thread.start()

    def run(self) -> None:
        """Run in the calling thread until stop() (e.g. from a signal handler)."""
        self._acquire()
        self._run()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def pause(self, timeout: float = 5.0) -> None:
        """No round starts after this; returns once the round under way (if any) is done, or after
        `timeout` seconds when that round is stuck waiting for the broker."""
        self.paused = True
        if self._round.acquire(timeout=timeout):
            self._round.release()

    def resume(self) -> None:
        self.paused = False
        self._wake.set()

    def _acquire(self) -> None:
        if self._lock is not None:
            self._lock.acquire()
        self.running = True

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                with self._round:
                    if self.paused:
                        delay = self.loop.relay.settings.idle_wait
                    else:
                        try:
                            delay = self.loop.step()
                        except Exception as exc:  # the relay must outlive any one bad round
                            delay = self.loop.fail(exc)
                if delay > 0:
                    self._wake.wait(delay)
                    self._wake.clear()
        finally:
            self.running = False
            if self._lock is not None:
                self._lock.release()
