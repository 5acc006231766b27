"""Saga ports: where running sagas, their timelines and their timers are kept, and how people act
on them. The engine (core/runtime/saga) is pure; these ports make its decisions durable.

Writes go through the unit of work (`UnitOfWork.sagas`, a `SagaWriter`), so a saga's new state,
its history rows, its outgoing commands (outbox), its timers and the reply's inbox entry commit
in ONE transaction. Reads and the timer worker's claims go through `SagaStore` and `TimerStore`,
which every store (memory, files, SQL) offers beside its outbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, kw_only=True)
class SagaRecord:
    """One saga as a store keeps it: the engine's instance as JSON (`instance`), plus the columns
    people filter and sort on. `version` is the store's optimistic version (0: not stored yet)."""

    saga_id: str
    definition: str
    state: str
    instance: dict[str, Any]
    version: int
    started_at: datetime
    updated_at: datetime
    next_due: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class HistoryRow:
    """One line of a saga's timeline (the engine's HistoryEntry as JSON), numbered per saga from 1."""

    saga_id: str
    seq: int
    entry: dict[str, Any]


@dataclass(frozen=True)
class Timer:
    """Fire TimerFired(step, generation) for `saga_id` at `due_at`. (saga_id, step, generation)
    names a timer: scheduling it twice keeps one."""

    saga_id: str
    step: str
    generation: int
    due_at: datetime


@dataclass
class SagaChanges:
    """What one unit of work changes in sagas, handed to the store's Committer.write with the rest.

    `saves` holds (record, expected version): store `record` (its `version` is already the new
    one, expected + 1) only if the stored version is still the expected one (0: not stored yet),
    else ConcurrencyConflict. `history` rows get the next seqs of their saga in the order given.
    `timers` are inserted or replace the timer with the same name (new due time, claim cleared);
    `cancelled` timers are deleted (a missing one is no error). A timer is never in both lists.
    """

    saves: list[tuple[SagaRecord, int]] = field(default_factory=list)
    history: list[tuple[str, dict[str, Any]]] = field(default_factory=list)   # (saga_id, entry JSON)
    timers: list[Timer] = field(default_factory=list)
    cancelled: list[tuple[str, str, int]] = field(default_factory=list)      # (saga_id, step, generation)

    def __bool__(self) -> bool:
        return bool(self.saves or self.history or self.timers or self.cancelled)


class SagaWriter(Protocol):
    """Saga writes inside one unit of work (staged until commit).

    Contract: `get` sees what this unit staged (with the version it will be stored with), else
    what is committed; `save(record)` stores the record if its stored version is still
    `record.version` (0: new), else commit raises ConcurrencyConflict and nothing of the unit is
    stored; the stored version becomes `record.version + 1`. Saving a record `get` returned from
    this unit's own save replaces the staged one (one version step per unit). History rows get
    the next seqs of their saga, in the order given. `schedule` and `cancel` of the same timer
    in one unit: the last one wins.
    """

    def get(self, saga_id: str) -> SagaRecord | None: ...

    def save(self, record: SagaRecord) -> None: ...

    def record_history(self, saga_id: str, entries: Sequence[dict[str, Any]]) -> None: ...

    def schedule(self, timer: Timer) -> None: ...

    def cancel(self, saga_id: str, step: str, generation: int) -> None: ...


class SagaStore(Protocol):
    """Committed sagas, for people and workers.

    Contract: `get` returns the committed record or None; `list(state, after, limit)` pages
    sagas, newest start first (then by saga id, descending; `after` is the last saga id of the
    previous page, and an unknown one gives []), of one state when given; `history(saga_id)`
    returns its rows in seq order; `counts()` how many sagas are in each state.
    """

    def get(self, saga_id: str) -> SagaRecord | None: ...

    def list(self, state: str | None = None, after: str | None = None, limit: int = 100) -> list[SagaRecord]: ...

    def history(self, saga_id: str) -> list[HistoryRow]: ...

    def counts(self) -> dict[str, int]: ...


class TimerStore(Protocol):
    """Durable timers.

    Contract: `claim_due(now, limit, lease_seconds)` returns up to `limit` timers due at or before
    `now` and not claimed by a lease still running at `now`, oldest due first (then by saga id,
    step, generation), and hides them from claimers until `now + lease_seconds` (a worker that
    dies lets them come back when the lease ends); on PostgreSQL several workers claim
    disjoint timers (FOR UPDATE SKIP LOCKED); on SQLite and files one worker runs. A timer stays
    until a unit of work cancels it (the worker cancels it in the same unit that acts on it).
    `pending(saga_id)` lists a saga's timers, oldest due first, claimed or not; `next_due()` the
    earliest due time of any timer, claimed or not, or None.
    """

    def claim_due(self, now: datetime, limit: int, lease_seconds: float) -> list[Timer]: ...

    def pending(self, saga_id: str) -> list[Timer]: ...

    def next_due(self) -> datetime | None: ...


# -- operating sagas (dashboard, CLI, admin API) ------------------------------------------------
# Plain documents, the same in this process and over HTTP (attach mode): states and statuses are
# the engine's values as text, because ports do not name the runtime's types.

OPERATOR_ACTIONS = ("retry", "skip", "compensate", "pause", "resume")


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def _required_time(value: Any, name: str) -> datetime:
    if value is None:
        raise ValueError(f"{name} is required")
    return datetime.fromisoformat(str(value))


@dataclass(frozen=True, kw_only=True)
class StepView:
    """Where one step of a saga is: its status, its tries (`attempt` of the command,
    `compensation_attempt` of its undo), why it failed or was skipped, and its live timer's due time."""

    name: str
    participant: str
    status: str
    attempt: int = 0
    compensation_attempt: int = 0
    reason: str | None = None
    due_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "participant": self.participant, "status": self.status, "attempt": self.attempt,
                "compensation_attempt": self.compensation_attempt, "reason": self.reason,
                "due_at": _time(self.due_at)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StepView:
        return cls(name=str(data["name"]), participant=str(data["participant"]), status=str(data["status"]),
                   attempt=int(data["attempt"]), compensation_attempt=int(data["compensation_attempt"]),
                   reason=data.get("reason"), due_at=_parse_time(data.get("due_at")))


@dataclass(frozen=True, kw_only=True)
class SagaView:
    """One saga as a row of the flight board: its subject (the order), mode, sub-state, the line the
    order's API shows (`summary`), its steps in definition order and its next deadline or retry."""

    saga_id: str
    definition: str
    subject: str
    mode: str
    state: str
    summary: str
    steps: tuple[StepView, ...]
    started_at: datetime
    updated_at: datetime
    next_due: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {"saga_id": self.saga_id, "definition": self.definition, "subject": self.subject, "mode": self.mode,
                "state": self.state, "summary": self.summary, "steps": [step.to_json() for step in self.steps],
                "started_at": _time(self.started_at), "updated_at": _time(self.updated_at),
                "next_due": _time(self.next_due)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SagaView:
        return cls(saga_id=str(data["saga_id"]), definition=str(data["definition"]), subject=str(data["subject"]),
                   mode=str(data["mode"]), state=str(data["state"]), summary=str(data["summary"]),
                   steps=tuple(StepView.from_json(step) for step in data["steps"]),
                   started_at=_required_time(data["started_at"], "started_at"),
                   updated_at=_required_time(data["updated_at"], "updated_at"),
                   next_due=_parse_time(data.get("next_due")))


@dataclass(frozen=True, kw_only=True)
class HistoryItem:
    """One line of a saga's timeline; `data` holds the message ids, reasons and operator actions."""

    seq: int
    at: datetime
    kind: str
    step: str | None
    attempt: int | None
    text: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def message_ids(self) -> tuple[str, ...]:
        return tuple(str(value) for key, value in sorted(self.data.items()) if key.endswith("message_id") and value)

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": _time(self.at), "kind": self.kind, "step": self.step, "attempt": self.attempt,
                "text": self.text, "data": self.data}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HistoryItem:
        attempt = data.get("attempt")
        return cls(seq=int(data["seq"]), at=_required_time(data["at"], "at"), kind=str(data["kind"]),
                   step=data.get("step"),
                   attempt=None if attempt is None else int(attempt), text=str(data["text"]),
                   data=dict(data.get("data") or {}))


@dataclass(frozen=True, kw_only=True)
class PlannedStep:
    """A step of the definition the saga has not started yet."""

    name: str
    participant: str
    command: str
    compensation: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "participant": self.participant, "command": self.command,
                "compensation": self.compensation}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PlannedStep:
        return cls(name=str(data["name"]), participant=str(data["participant"]), command=str(data["command"]),
                   compensation=data.get("compensation"))


@dataclass(frozen=True, kw_only=True)
class SagaDetail:
    """One saga in full: its row, why it is compensating or ended (`reason`), whether it is paused
    and how many replies or timers wait for its resume (`held`), its timeline, what is still to run."""

    saga: SagaView
    reason: str | None
    paused: bool
    held: int
    history: tuple[HistoryItem, ...]
    remaining: tuple[PlannedStep, ...]

    def to_json(self) -> dict[str, Any]:
        return {**self.saga.to_json(), "reason": self.reason, "paused": self.paused, "held": self.held,
                "history": [item.to_json() for item in self.history],
                "remaining": [step.to_json() for step in self.remaining]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SagaDetail:
        return cls(saga=SagaView.from_json(data), reason=data.get("reason"), paused=bool(data["paused"]),
                   held=int(data["held"]), history=tuple(HistoryItem.from_json(item) for item in data["history"]),
                   remaining=tuple(PlannedStep.from_json(step) for step in data["remaining"]))


class SagaOperations(Protocol):
    """What people see of sagas and do to them (flight board, `orderhex sagas`, /admin/sagas).

    Contract:
    - `sagas(state, after, limit)` pages sagas newest start first, of one sub-state when given
      (ValidationError naming `state` for one that does not exist); `after` is the last saga id of
      the previous page. `counts()` says how many sagas are in each sub-state.
    - `saga(saga_id)` gives one in full; NotFound when there is no such saga.
    - `act(saga_id, action, step, reason)` applies an operator action (one of OPERATOR_ACTIONS),
      commits it with its history entry and feed event, and returns the saga as it is then.
      InvalidFields / ValidationError names every bad field at once (an unknown action, a missing
      or unknown step for retry and skip, a missing reason for skip); NotFound for no such saga;
      IllegalTransition when the saga's state does not allow the action; nothing changes then.
    - `graph(definition)` draws a definition as a Mermaid flowchart; NotFound for an unknown one.
    """

    def sagas(self, state: str | None = None, after: str | None = None, limit: int = 100) -> list[SagaView]: ...

    def saga(self, saga_id: str) -> SagaDetail: ...

    def act(self, saga_id: str, action: str, step: str | None = None, reason: str | None = None) -> SagaDetail: ...

    def graph(self, definition: str) -> str: ...

    def counts(self) -> dict[str, int]: ...
