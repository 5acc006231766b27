"""What the saga engine reacts to: a start, a participant's reply, a timer, an operator's action."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


@dataclass(frozen=True)
class Start:
    """Begin saga `saga_id` with its data (JSON-ready: the store keeps it as JSON)."""

    saga_id: str
    data: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class Reply:
    """A participant's answer to one try of a step's command (or, `compensation`, its undo).

    Correlated by the saga id (the store's key), the step and the attempt the command carried.
    """

    step: str
    attempt: int
    ok: bool
    reason: str | None = None
    compensation: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"type": "reply", "step": self.step, "attempt": self.attempt, "ok": self.ok, "reason": self.reason,
                "compensation": self.compensation}


@dataclass(frozen=True)
class TimerFired:
    """A timer the engine set came due. `generation` tells a live timer from a stale one."""

    step: str
    generation: int

    def to_json(self) -> dict[str, Any]:
        return {"type": "timer", "step": self.step, "generation": self.generation}


class OperatorAction(StrEnum):
    RETRY = "retry"            # try a step (or its compensation) again now, with a fresh retry budget
    SKIP = "skip"              # give up on a step (or its compensation) and go on; shown as skipped
    COMPENSATE = "compensate"  # stop going forward and undo what is done (only before the pivot starts)
    PAUSE = "pause"            # send nothing and act on no timer until resumed
    RESUME = "resume"          # handle what arrived while paused, then go on


@dataclass(frozen=True)
class Operator:
    """A person's action on a saga. `step` names the step for retry and skip."""

    action: OperatorAction
    step: str | None = None
    reason: str = ""


Input = Start | Reply | TimerFired | Operator
# What a paused saga keeps until it resumes.
Held = Reply | TimerFired


def held_from_json(data: dict[str, Any]) -> Held:
    if data.get("type") == "reply":
        return Reply(step=str(data["step"]), attempt=int(data["attempt"]), ok=bool(data["ok"]),
                     reason=data.get("reason"), compensation=bool(data.get("compensation", False)))
    if data.get("type") == "timer":
        return TimerFired(str(data["step"]), int(data["generation"]))
    raise ValueError(f"a held saga input is a reply or a timer, got {data!r}")
