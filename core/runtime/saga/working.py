"""A decision being made, shared by the orchestrator's engine and choreography's tracker: a working
copy of one instance (its steps, phase, timers) and the effects collected on the way."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from core.kernel.feed import FeedEvent, FeedKind
from core.runtime.saga.decision import CancelTimer, Decision, HistoryEntry, HistoryKind, SendCommand, SetTimer
from core.runtime.saga.definition import SagaDefinition
from core.runtime.saga.instance import SagaInstance, StepRun

D = TypeVar("D", StepRun, SagaInstance)


class Working:
    def __init__(self, definition: SagaDefinition, instance: SagaInstance, now: datetime) -> None:
        self.definition = definition
        self.instance = instance
        self.now = now
        self.runs = {run.name: run for run in instance.steps}
        self.phase = instance.phase
        self.reason = instance.reason
        self.generation = instance.generation
        self.stale_timers = instance.stale_timers
        self.commands: list[SendCommand] = []
        self.timers: list[SetTimer] = []
        self.cancels: list[CancelTimer] = []
        self.history: list[HistoryEntry] = []

    def arm(self, name: str, due: datetime) -> None:
        """A new timer for step `name` (its live one, if any, cancelled): a new generation."""
        self.clear_timer(name)
        self.generation += 1
        self.timers.append(SetTimer(self.instance.saga_id, name, self.generation, due))
        self.put(name, timer=self.generation, due_at=due)

    def clear_timer(self, name: str) -> None:
        run = self.runs[name]
        if run.timer is not None:
            self.cancels.append(CancelTimer(self.instance.saga_id, name, run.timer))
            self.put(name, timer=None, due_at=None)

    def put(self, name: str, **changes: Any) -> None:
        self.runs[name] = _replaced(self.runs[name], changes)

    def note(self, kind: HistoryKind, step: str | None, attempt: int | None, text: str, **data: Any) -> None:
        self.history.append(HistoryEntry(at=self.now, kind=kind, step=step, attempt=attempt, text=text, data=data))

    def decided(self, **changes: Any) -> Decision:
        """The decision: the instance with the working copy (and `changes`) applied, the effects
        collected, and a feed event per history entry."""
        instance = _replaced(self.instance, {
            "phase": self.phase, "steps": tuple(self.runs[run.name] for run in self.instance.steps),
            "reason": self.reason, "generation": self.generation, "stale_timers": self.stale_timers,
            "updated_at": self.now if self.history else self.instance.updated_at, **changes})
        state = instance.state.value
        mode = {"mode": instance.mode} if instance.mode != "orchestration" else {}
        feed = tuple(
            FeedEvent(kind=FeedKind.SAGA, text=f"saga {instance.saga_id}: {entry.text}", at=entry.at,
                      data={"saga_id": instance.saga_id, "definition": instance.definition, "state": state,
                            "history": entry.kind.value, "step": entry.step, "attempt": entry.attempt, **mode,
                            **entry.data})
            for entry in self.history
        )
        return Decision(instance=instance, commands=tuple(self.commands), timers=tuple(self.timers),
                        cancel_timers=tuple(self.cancels), history=tuple(self.history), feed=feed)


def _replaced(value: D, changes: dict[str, Any]) -> D:
    """`dataclasses.replace` for these two, whose fields are all set by their constructors: the
    constructor called with the merged fields, at a third of replace's cost (which inspects the
    fields on every call; a saga's start makes six of these)."""
    return type(value)(**(vars(value) | changes))
