"""The flow tracker: choreography's process tracking made durable, one input per unit of work.

The choreographed counterpart of the saga runner (core/runtime/sagas.py): the owner of a flow
(orders, for placing an order) starts it in the unit of work that places the order, and feeds it
each participant's event in the unit of work of that event's reaction (the bus records the event's
inbox entry there). The tracker stages the flow's record (optimistic version), history and timers
(its patience) in that same unit of work and does the owner's own commands (approve at the pivot,
reject on failure) through `act`, in it too: the flow and the order change together or not at all.

Its timers fire through the same timer worker as the orchestrator's (the sweeper): a flow with no
word from a participant past its patience is rejected before the pivot, and flagged after it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from core.runtime.saga import Decision, SagaDefinition, SendCommand, Start, TimerFired
from core.runtime.saga.tracking import Decided, Observed, TrackInput, track
from core.runtime.sagas import CONFLICT_RETRIES, SagaDriver, instance_of, stage_decision, timer_inbox_id
from ports.sagas import Timer
from ports.storage import UnitOfWork
from ports.system import EventFeed

# The owner does its own steps in the unit of work of the input that decides them.
Act = Callable[[UnitOfWork, SendCommand], None]


class FlowTracker(SagaDriver):
    """Tracks the flows of `definitions` (by name) owned by context `owner`."""

    def __init__(self, definitions: Mapping[str, SagaDefinition], *, owner: str, act: Act, feed: EventFeed,
                 now: Callable[[], datetime], conflict_retries: int = CONFLICT_RETRIES) -> None:
        super().__init__(definitions, feed=feed, now=now, conflict_retries=conflict_retries)
        self.owner = owner
        self.act = act

    def start(self, uow: UnitOfWork, definition: str, saga_id: str, data: dict[str, Any], *,
              new: bool = False) -> Decision:
        """Stage the flow's start into `uow`, which the caller has open and commits. `new` as for
        SagaRunner.start: the id is fresh, so nothing is read."""
        return self._decide(uow, definition, saga_id, Start(saga_id, data), new=new)

    def observe(self, uow: UnitOfWork, saga_id: str, observed: Observed) -> Decision | None:
        """Stage a participant's event into `uow` (open; the caller commits). None when no flow of
        that id is tracked (an order placed in orchestration mode, or before the flow was tracked)."""
        record = uow.sagas.get(saga_id)
        if record is None:
            return None
        return self._decide(uow, record.definition, saga_id, observed)

    def decided(self, uow: UnitOfWork, saga_id: str, decided: Decided) -> Decision | None:
        """Stage a person's approval, rejection or cancellation of the flow's subject into `uow`
        (open; the caller commits). None when no flow of that id is tracked."""
        record = uow.sagas.get(saga_id)
        if record is None:
            return None
        return self._decide(uow, record.definition, saga_id, decided)

    def fire(self, uow: UnitOfWork, timer: Timer) -> Decision | None:
        """A due timer (the sweeper), at most once, in its own unit of work. None when its flow is gone."""
        def stage() -> Decision | None:
            uow.inbox.add(timer_inbox_id(timer))  # AlreadyProcessed at once for a repeat
            record = uow.sagas.get(timer.saga_id)
            if record is None:
                uow.sagas.cancel(timer.saga_id, timer.step, timer.generation)
                uow.commit()
                return None
            decision = self._decide(uow, record.definition, timer.saga_id, TimerFired(timer.step, timer.generation))
            uow.sagas.cancel(timer.saga_id, timer.step, timer.generation)
            return decision

        return self._committed(uow, stage)

    def _decide(self, uow: UnitOfWork, definition: str, saga_id: str, given: TrackInput, *,
                new: bool = False) -> Decision:
        record = None if new else uow.sagas.get(saga_id)
        decision = track(self.definition(definition), instance_of(record), given, self.now(), self.owner)
        stage_decision(uow, decision, record)
        for command in decision.commands:
            self.act(uow, command)
        return decision


__all__: Sequence[str] = ("Act", "Decided", "FlowTracker", "Observed")
