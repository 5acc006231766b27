"""What the saga engine decides: the new instance and the effects its caller must commit with it.

The caller (the saga worker) commits all of it in one transaction: the instance, the history
rows, an outbox row per command, the timers set and cancelled (and the reply's inbox entry);
then it publishes the feed events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from core.kernel.feed import FeedEvent
from core.runtime.saga.instance import SagaInstance


def message_id(saga_id: str, step: str, attempt: int, compensation: bool) -> str:
    """The id of the command a step's try sends. Derived, never random: a decision replayed after
    a crash sends the same ids, so the participant's inbox drops the second copy."""
    kind = "compensation" if compensation else "command"
    return f"saga:{saga_id}:{step}:{kind}:{attempt}"


@dataclass(frozen=True, kw_only=True)
class SendCommand:
    """A command for `participant` (its JSON body in `payload`), sent through the outbox."""

    saga_id: str
    step: str
    attempt: int
    participant: str
    command_type: str
    payload: dict[str, Any]
    compensation: bool = False

    @property
    def message_id(self) -> str:
        return message_id(self.saga_id, self.step, self.attempt, self.compensation)


@dataclass(frozen=True)
class SetTimer:
    """Fire TimerFired(step, generation) for saga `saga_id` at `due_at`."""

    saga_id: str
    step: str
    generation: int
    due_at: datetime


@dataclass(frozen=True)
class CancelTimer:
    """The timer (saga_id, step, generation) no longer matters. Should it fire anyway, the engine
    drops it as stale: cancelling is a saving, not a condition of correctness."""

    saga_id: str
    step: str
    generation: int


class HistoryKind(StrEnum):
    STARTED = "started"
    SENT = "sent"                      # a try of a command or a compensation
    REPLIED = "replied"                # a reply that counted
    IGNORED = "ignored"                # a duplicate reply, or one for a try that no longer counts
    LATE_SUCCESS = "late_success"      # a success after its step gave up: undone at once
    DEADLINE = "deadline"              # a try got no reply in time
    RETRY_SCHEDULED = "retry_scheduled"
    STALE_TIMER = "stale_timer"
    HELD = "held"                      # arrived while paused; handled at resume
    FAILED = "failed"                  # a step failed for good
    COMPENSATING = "compensating"
    STUCK = "stuck"
    COMPLETED = "completed"
    COMPENSATED = "compensated"
    OPERATOR = "operator"


@dataclass(frozen=True, kw_only=True)
class HistoryEntry:
    """One line of a saga's timeline. `data` carries message ids, reasons and the like."""

    at: datetime
    kind: HistoryKind
    step: str | None
    attempt: int | None
    text: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "kind": self.kind.value, "step": self.step, "attempt": self.attempt,
                "text": self.text, "data": self.data}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HistoryEntry:
        return cls(at=datetime.fromisoformat(data["at"]), kind=HistoryKind(data["kind"]), step=data["step"],
                   attempt=data["attempt"], text=data["text"], data=dict(data["data"]))


@dataclass(frozen=True, kw_only=True)
class Decision:
    instance: SagaInstance
    commands: tuple[SendCommand, ...] = ()
    timers: tuple[SetTimer, ...] = ()
    cancel_timers: tuple[CancelTimer, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    feed: tuple[FeedEvent, ...] = ()
