"""Runs the outbox relay: in a background thread (serve, dashboard) or in the foreground (`orderhex relay`)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from adapters.inbound.workers.relay_lock import RelayLock
from core.kernel.errors import Unavailable
from core.runtime.relay import RelayLoop

log = logging.getLogger("orderhex.relay")


class RelayWorker:
    """Drives a RelayLoop until stopped; pause() keeps it alive but publishing nothing.

    When `lock` is given (SQLite and file stores, where only one relay may run) it is taken
    before the first round and held until the worker stops. `interrupt`, when given, makes a
    publish in flight give up (the broker's Publisher): `stop()` calls it, so a relay stuck on a
    broker that is down stops at once instead of after the delivery timeout. The rows of that
    batch stay unpublished in the outbox, and the next relay sends them.
    """

    name = "outbox-relay"

    def __init__(self, loop: RelayLoop, lock: RelayLock | None = None,
                 interrupt: Callable[[], None] | None = None) -> None:
        self.loop = loop
        self._lock = lock
        self._interrupt = interrupt
        self._failures = 0
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

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop within `timeout` seconds: the round under way ends (a publish waiting for the broker
        is interrupted). True when the relay thread has ended."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return True
        deadline = time.monotonic() + timeout
        while thread.is_alive() and time.monotonic() < deadline:
            # Again and again: a round may reach its publish just after an earlier interrupt.
            self._interrupt_publish()
            thread.join(min(0.1, max(0.0, deadline - time.monotonic())))
        if thread.is_alive():
            log.warning("relay did not stop within %.1f s; leaving it to exit with the process", timeout)
            return False
        return True

    def _interrupt_publish(self) -> None:
        if self._interrupt is None:
            return
        try:
            self._interrupt()
        except Exception as exc:  # an adapter that cannot be reached now has nothing in flight
            log.debug("relay: interrupting the publish failed: %s", exc)

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
                            log.exception("relay round failed")
                            delay = self.loop.fail(exc)
                        self._note_backoff(delay)
                if delay > 0:
                    self._wake.wait(delay)
                    self._wake.clear()
        finally:
            self.running = False
            if self._lock is not None:
                self._lock.release()

    def _note_backoff(self, delay: float) -> None:
        """One line per retry while the store or broker is down (why is said once, by the relay's
        error on the feed), and none while it publishes."""
        if not self.loop.failing:
            self._failures = 0
            return
        self._failures += 1
        if self._stop.is_set():
            return
        log.info("relay backing off: retry %d in %.1f s", self._failures, delay,
                 extra={"attempt": self._failures, "retry_in_s": round(delay, 3)})


class RelayGroup:
    """The relays of one process, one per store (a store per service, or the shared one), driven
    as one: what `serve`, the dashboard and `orderhex relay` run, and what operators pause."""

    name = "outbox-relays"

    def __init__(self, workers: list[RelayWorker], *, leave_held_stores: bool = False) -> None:
        """`leave_held_stores`: a store another process already relays (a second instance of a
        service on one SQLite file or file store) is left to it, with a log line, instead of
        refusing to start; `serve` runs so, the dashboard and `orderhex relay` do not."""
        self.workers = workers
        self._leave_held = leave_held_stores

    @property
    def running(self) -> bool:
        return any(worker.running for worker in self.workers)

    @property
    def paused(self) -> bool:
        return bool(self.workers) and all(worker.paused for worker in self.workers)

    @property
    def failing(self) -> bool:
        return any(worker.loop.failing for worker in self.workers)

    @property
    def published(self) -> int:
        return sum(worker.loop.published for worker in self.workers)

    def pending(self) -> int:
        return sum(worker.loop.relay.lag().pending for worker in self.workers)

    def start(self) -> None:
        """Start every relay; if one cannot (another relay holds its store), stop the others and raise."""
        started: list[RelayWorker] = []
        try:
            for worker in self.workers:
                try:
                    worker.start()
                except Unavailable as exc:
                    if not self._leave_held:
                        raise
                    log.warning("not relaying %s: %s", worker.loop.relay.describe(), exc,
                                extra={"event": "relay_left_to_another", "reason": str(exc)})
                    continue
                started.append(worker)
        except BaseException:
            for worker in started:
                worker.stop()
            raise
        self.workers = started

    def stop(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        return all([worker.stop(max(0.1, deadline - time.monotonic())) for worker in self.workers])

    def pause(self, timeout: float = 5.0) -> None:
        for worker in self.workers:
            worker.pause(timeout)

    def resume(self) -> None:
        for worker in self.workers:
            worker.resume()
