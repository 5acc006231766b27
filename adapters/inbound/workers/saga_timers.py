"""The saga timer worker: claims due timers (deadlines, retry backoffs) and fires them through the
saga runner (orchestration) or the flow tracker (choreography: the sweeper of flows with no word
past their patience), each in its own unit of work, at most once (inbox id `timer:<saga>:<step>:<gen>`).

On SQLite and file stores one worker runs per store (a lock file beside it, like the relay's);
on PostgreSQL several may share the timers (the store claims with FOR UPDATE SKIP LOCKED).
Time comes from the Clock port, so tests drive deadlines with a clock they move, not with sleeps.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from adapters.inbound.workers.relay_lock import RelayLock
from core.kernel.errors import AlreadyProcessed, DomainError, Unavailable
from core.runtime.flows import FlowTracker
from core.runtime.sagas import SagaRunner
from ports.storage import Storage, UnitOfWork

log = logging.getLogger("orderhex.sagas")


class SagaTimerWorker:
    def __init__(self, *, runner: SagaRunner | FlowTracker, storage: Storage, unit_of_work: Callable[[], UnitOfWork],
                 now: Callable[[], datetime], batch: int = 100, lease_seconds: float = 30.0, idle: float = 0.2,
                 backoff_max: float = 10.0, lock: RelayLock | None = None) -> None:
        self.runner = runner
        self.storage = storage
        self.unit_of_work = unit_of_work
        self.now = now
        self.batch = batch
        self.lease_seconds = lease_seconds
        self.idle = idle
        self.backoff_max = backoff_max
        self.lock = lock
        self.fired = 0
        self.failed = 0

    @classmethod
    def lock_beside(cls, storage: Storage) -> RelayLock | None:
        """The one-worker lock of a store without row locks (SQLite, files), None for the others."""
        path = storage.outbox.relay_lock()
        if path is None:
            return None
        relay = Path(path)
        return RelayLock(relay.with_name(relay.name + ".saga-timers"), f"the saga timers of {storage.describe()}")

    def tick(self) -> int:
        """Fire every timer due now (up to `batch`); returns how many took effect."""
        fired = 0
        for timer in self.storage.timers.claim_due(self.now(), self.batch, self.lease_seconds):
            try:
                decision = self.runner.fire(self.unit_of_work(), timer)
            except AlreadyProcessed:
                continue  # fired by an earlier claim whose unit committed: its cancel did too
            except DomainError as exc:
                # A saga that refuses its own timer is a bug to see; the lease brings the timer back.
                self.failed += 1
                log.error("saga timer %s/%s/%d failed: %s", timer.saga_id, timer.step, timer.generation, exc,
                          extra={"event": "timer_failed", "role": "saga-timers", "saga_id": timer.saga_id,
                                 "step": timer.step, "generation": timer.generation, "error": type(exc).__name__})
                continue
            fired += 1
            state = decision.instance.state.value if decision is not None else "gone"
            log.info("saga %s: timer of %s fired (generation %d): now %s", timer.saga_id, timer.step,
                     timer.generation, state,
                     extra={"event": "timer_fired", "role": "saga-timers", "saga_id": timer.saga_id,
                            "step": timer.step, "generation": timer.generation, "state": state})
        self.fired += fired
        return fired

    def run(self, stop: threading.Event) -> None:
        """Tick until `stop` is set; during a store outage, back off and go on."""
        while self.lock is not None and not stop.is_set():
            try:
                self.lock.acquire()
                break
            except Unavailable as exc:  # another worker fires this store's timers: stand by for it
                log.info("saga timer worker stands by: %s", exc,
                         extra={"event": "standby", "role": "saga-timers", "error": str(exc)})
                stop.wait(self.backoff_max)
        log.info("saga timer worker started on %s", self.storage.describe(),
                 extra={"event": "started", "role": "saga-timers", "store": self.storage.describe()})
        wait = self.idle
        try:
            while not stop.is_set():
                try:
                    busy = self.tick() > 0
                    wait = self.idle
                except Unavailable as exc:
                    wait = min(max(wait * 2, self.idle), self.backoff_max)
                    log.warning("saga timer worker waits %.1f s for the store: %s", wait, exc,
                                extra={"event": "outage", "role": "saga-timers", "error": str(exc)})
                    busy = False
                if not busy:
                    stop.wait(wait)
        finally:
            if self.lock is not None:
                self.lock.release()  # a no-op when it was never acquired
            log.info("saga timer worker stopped after firing %d timer(s)", self.fired,
                     extra={"event": "stopped", "role": "saga-timers", "fired": self.fired, "failed": self.failed})
