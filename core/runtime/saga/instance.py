"""One running saga as immutable data: where each step is, what is held while paused, and why.

The engine returns a new instance for every input; stores keep it as JSON (`to_json` /
`from_json`). `version` belongs to the store (optimistic concurrency): the engine carries it
through unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from core.runtime.saga.inputs import Held, held_from_json


class StepStatus(StrEnum):
    PENDING = "pending"                           # not started
    IN_FLIGHT = "in_flight"                       # a try was sent; waiting for its reply or deadline
    RETRY_WAIT = "retry_wait"                     # a try failed or timed out; the next waits for its backoff
    DONE = "done"
    FAILED = "failed"                             # failed for good (or timed out) before the pivot
    SKIPPED = "skipped"                           # an operator skipped it (or its compensation), with a reason
    COMPENSATING = "compensating"                 # its compensation was sent; waiting for the reply or deadline
    COMPENSATION_WAIT = "compensation_wait"       # a compensation try failed; the next waits for its backoff
    COMPENSATED = "compensated"
    COMPENSATION_FAILED = "compensation_failed"   # the compensation failed past its policy: the saga is stuck


AWAITING = frozenset({StepStatus.IN_FLIGHT, StepStatus.RETRY_WAIT})
UNDOING = frozenset({StepStatus.COMPENSATING, StepStatus.COMPENSATION_WAIT})


class Phase(StrEnum):
    """Which way the saga goes: forward, backward, or ended."""

    RUNNING = "running"
    COMPENSATING = "compensating"
    COMPLETED = "completed"
    COMPENSATED = "compensated"


class SagaState(StrEnum):
    """The sub-state a person filters on, derived from the phase and the steps."""

    RUNNING = "running"
    WAITING = "waiting"
    RETRYING = "retrying"
    COMPENSATING = "compensating"
    PAUSED = "paused"
    STUCK = "stuck"
    COMPLETED = "completed"
    COMPENSATED = "compensated"


@dataclass(frozen=True, kw_only=True)
class StepRun:
    """Where one step is. `attempt` numbers every try of the command and `compensation_attempt`
    every try of its undo (both only grow, so message ids never repeat); `tries` counts the tries
    against the current retry budget (reset when an operator retries or compensation starts).
    `timer` is the generation of the step's live timer (deadline or backoff), due at `due_at`."""

    name: str
    status: StepStatus = StepStatus.PENDING
    attempt: int = 0
    compensation_attempt: int = 0
    tries: int = 0
    timer: int | None = None
    due_at: datetime | None = None
    reason: str | None = None
    answered: tuple[int, ...] = ()
    compensations_answered: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "status": self.status.value, "attempt": self.attempt,
            "compensation_attempt": self.compensation_attempt, "tries": self.tries, "timer": self.timer,
            "due_at": self.due_at.isoformat() if self.due_at else None, "reason": self.reason,
            "answered": list(self.answered), "compensations_answered": list(self.compensations_answered),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StepRun:
        return cls(
            name=data["name"], status=StepStatus(data["status"]), attempt=int(data["attempt"]),
            compensation_attempt=int(data["compensation_attempt"]), tries=int(data["tries"]),
            timer=None if data["timer"] is None else int(data["timer"]),
            due_at=datetime.fromisoformat(data["due_at"]) if data["due_at"] else None, reason=data["reason"],
            answered=tuple(int(a) for a in data["answered"]),
            compensations_answered=tuple(int(a) for a in data["compensations_answered"]),
        )


@dataclass(frozen=True, kw_only=True)
class SagaInstance:
    """A saga of definition `definition` for `data`. `generation` is the last timer generation
    handed out; `stale_timers` counts timers that fired after they stopped mattering; `held`
    keeps the replies and timers that arrived while `paused`."""

    saga_id: str
    definition: str
    data: dict[str, Any]
    phase: Phase
    steps: tuple[StepRun, ...]
    started_at: datetime
    updated_at: datetime
    reason: str | None = None
    paused: bool = False
    held: tuple[Held, ...] = ()
    generation: int = 0
    stale_timers: int = 0
    participants: dict[str, str] = field(default_factory=dict)
    # orchestration: the engine drives it; choreography: a tracker follows the participants' events
    mode: str = "orchestration"
    version: int = 0

    def step(self, name: str) -> StepRun:
        for run in self.steps:
            if run.name == name:
                return run
        raise KeyError(f"saga {self.saga_id} has no step {name!r}")

    @property
    def ended(self) -> bool:
        return self.phase in (Phase.COMPLETED, Phase.COMPENSATED)

    @property
    def state(self) -> SagaState:
        statuses = {run.status for run in self.steps}
        if self.paused:
            return SagaState.PAUSED
        if StepStatus.COMPENSATION_FAILED in statuses:
            return SagaState.STUCK
        if self.phase is Phase.COMPENSATING or statuses & UNDOING:
            return SagaState.COMPENSATING
        if self.phase is Phase.COMPLETED:
            return SagaState.COMPLETED
        if self.phase is Phase.COMPENSATED:
            return SagaState.COMPENSATED
        if StepStatus.RETRY_WAIT in statuses:
            return SagaState.RETRYING
        if StepStatus.IN_FLIGHT in statuses:
            return SagaState.WAITING
        return SagaState.RUNNING

    @property
    def next_due(self) -> datetime | None:
        """The earliest live timer (the next deadline or retry), None when none is set."""
        due = [run.due_at for run in self.steps if run.due_at is not None]
        return min(due) if due else None

    def summary(self) -> str:
        """One line for the order's API: "pending: waiting for payments", "stuck: ...", ..."""
        state = self.state
        if state is SagaState.PAUSED:
            return "paused by an operator"
        if state is SagaState.STUCK:
            stuck = [run for run in self.steps if run.status is StepStatus.COMPENSATION_FAILED]
            return "stuck: " + "; ".join(f"undoing {run.name} failed ({run.reason})" for run in stuck) \
                + "; waiting for an operator"
        if state is SagaState.COMPENSATING:
            return f"compensating: {self.reason}" if self.reason else "compensating"
        if state is SagaState.COMPLETED:
            return "completed"
        if state is SagaState.COMPENSATED:
            return f"compensated: {self.reason}" if self.reason else "compensated"
        waiting = [self.participants.get(run.name, run.name)
                   for run in self.steps if run.status is StepStatus.IN_FLIGHT]
        retrying = [run for run in self.steps if run.status is StepStatus.RETRY_WAIT]
        parts = []
        if waiting:
            parts.append("waiting for " + " and ".join(dict.fromkeys(waiting)))
        for run in retrying:
            when = f" at {run.due_at.isoformat(timespec='seconds')}" if run.due_at else ""
            parts.append(f"retrying {self.participants.get(run.name, run.name)} (try {run.attempt + 1}{when})")
        return "pending: " + ", ".join(parts) if parts else "pending"

    def to_json(self) -> dict[str, Any]:
        return {
            "saga_id": self.saga_id, "definition": self.definition, "data": self.data, "phase": self.phase.value,
            "steps": [run.to_json() for run in self.steps], "started_at": self.started_at.isoformat(),
            "updated_at": self.updated_at.isoformat(), "reason": self.reason, "paused": self.paused,
            "held": [item.to_json() for item in self.held], "generation": self.generation,
            "stale_timers": self.stale_timers, "participants": self.participants, "state": self.state.value,
            "mode": self.mode,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], version: int = 0) -> SagaInstance:
        return cls(
            saga_id=data["saga_id"], definition=data["definition"], data=data["data"], phase=Phase(data["phase"]),
            steps=tuple(StepRun.from_json(run) for run in data["steps"]),
            started_at=datetime.fromisoformat(data["started_at"]),
            updated_at=datetime.fromisoformat(data["updated_at"]), reason=data["reason"],
            paused=bool(data["paused"]), held=tuple(held_from_json(item) for item in data["held"]),
            generation=int(data["generation"]), stale_timers=int(data["stale_timers"]),
            participants=dict(data["participants"]), mode=str(data.get("mode", "orchestration")), version=version,
        )
