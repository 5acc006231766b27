"""The SagaOperations port, implemented: what the flight board, `orderhex sagas` and /admin/sagas
show of sagas and do to them, over a store's SagaStore, the definitions and the saga runner.

Reads come from the committed store only. An operator's action goes through `act`, a callable that
opens a unit of work and hands the Operator to the runner (`SagaRunner.act`), so the action, its
history entry and its outgoing commands commit together and its feed event follows the commit,
exactly like a reply or a timer. Input is checked here first, every bad field at once, so a person
learns all that is wrong in one answer; the engine still refuses what the saga's state forbids.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from core.kernel.errors import InvalidFields, NotFound, ValidationError
from core.runtime.saga import (
    Operator,
    OperatorAction,
    Phase,
    SagaDefinition,
    SagaInstance,
    SagaState,
    StepStatus,
    to_mermaid,
)
from ports.sagas import (
    OPERATOR_ACTIONS,
    HistoryItem,
    PlannedStep,
    SagaDetail,
    SagaRecord,
    SagaStore,
    SagaView,
    StepView,
)
from ports.storage import Storage

ORCHESTRATION = "orchestration"
MAX_PAGE = 1000
# Free text an operator types is shown in every saga timeline: bounded like other stored text.
MAX_REASON = 500
# Retry and skip name the step they act on; the others act on the whole saga.
NEEDS_STEP = frozenset({OperatorAction.RETRY, OperatorAction.SKIP})

# (saga id, operator action) -> None; commits the action in its own unit of work (SagaRunner.act).
ActOn = Callable[[str, Operator], Any]


class SagaOperationsService:
    """SagaOperations over `storage.sagas` (read at each call: the store may be switched live)."""

    def __init__(self, storage: Storage, definitions: Mapping[str, SagaDefinition], act: ActOn) -> None:
        self._storage = storage
        self._definitions = dict(definitions)
        self._act = act

    @property
    def _store(self) -> SagaStore:
        return self._storage.sagas

    def sagas(self, state: str | None = None, after: str | None = None, limit: int = 100) -> list[SagaView]:
        errors = []
        if state is not None and state not in SagaState.__members__.values():
            errors.append(ValidationError("state", f"no saga state {state!r}; one of {', '.join(SagaState)}"))
        if not 1 <= limit <= MAX_PAGE:
            errors.append(ValidationError("limit", f"must be from 1 to {MAX_PAGE}, got {limit}"))
        if errors:
            raise _refusal(errors)
        return [self._view(record) for record in self._store.list(state, after, limit)]

    def counts(self) -> dict[str, int]:
        return self._store.counts()

    def saga(self, saga_id: str) -> SagaDetail:
        record = self._store.get(saga_id)
        if record is None:
            raise NotFound("saga", saga_id)
        instance = SagaInstance.from_json(record.instance, version=record.version)
        history = tuple(HistoryItem.from_json({**row.entry, "seq": row.seq}) for row in self._store.history(saga_id))
        return SagaDetail(saga=self._view(record), reason=instance.reason, paused=instance.paused,
                          held=len(instance.held), history=history, remaining=self._remaining(instance))

    def act(self, saga_id: str, action: str, step: str | None = None, reason: str | None = None) -> SagaDetail:
        record = self._store.get(saga_id)
        if record is None:
            raise NotFound("saga", saga_id)
        operator = self._operator(record, action, step, reason)
        self._act(saga_id, operator)
        return self.saga(saga_id)

    def graph(self, definition: str) -> str:
        return to_mermaid(self._definition(definition))

    # -- helpers ------------------------------------------------------------------------------

    def _definition(self, name: str) -> SagaDefinition:
        found = self._definitions.get(name)
        if found is None:
            raise NotFound("saga definition", f"{name} (known: {', '.join(sorted(self._definitions))})")
        return found

    def _operator(self, record: SagaRecord, action: str, step: str | None, reason: str | None) -> Operator:
        """The Operator for this input, or every bad field at once."""
        errors: list[ValidationError] = []
        chosen = OperatorAction(action) if action in OPERATOR_ACTIONS else None
        if chosen is None:
            errors.append(ValidationError("action", f"no operator action {action!r}; one of "
                                                    f"{', '.join(OPERATOR_ACTIONS)}"))
        steps = [s.name for s in self._definition(record.definition).every_step]
        if step is not None and step not in steps:
            errors.append(ValidationError("step", f"saga {record.saga_id} ({record.definition}) has no step "
                                                  f"{step!r}; its steps: {', '.join(steps)}"))
        elif step is None and chosen in NEEDS_STEP:
            errors.append(ValidationError("step", f"{action} names the step to act on: one of {', '.join(steps)}"))
        text = (reason or "").strip()
        if chosen is OperatorAction.SKIP and not text:
            errors.append(ValidationError("reason", "skipping a step needs a reason, shown in the saga's history"))
        if len(text) > MAX_REASON:
            errors.append(ValidationError("reason", f"at most {MAX_REASON} characters, got {len(text)}"))
        if chosen is None or errors:  # an unknown action is one of the errors
            raise _refusal(errors)
        return Operator(chosen, step=step, reason=text)

    def _view(self, record: SagaRecord) -> SagaView:
        instance = SagaInstance.from_json(record.instance, version=record.version)
        definition = self._definitions.get(record.definition)
        participants = {s.name: s.participant for s in definition.every_step} if definition else {}
        steps = tuple(StepView(name=run.name, participant=participants.get(run.name, "?"), status=run.status.value,
                               attempt=run.attempt, compensation_attempt=run.compensation_attempt, reason=run.reason,
                               due_at=run.due_at)
                      for run in instance.steps)
        return SagaView(saga_id=record.saga_id, definition=record.definition,
                        subject=str(instance.data.get("order_id", record.saga_id)),
                        mode=str(record.instance.get("mode", ORCHESTRATION)), state=instance.state.value,
                        summary=instance.summary(), steps=steps, started_at=record.started_at,
                        updated_at=record.updated_at, next_due=instance.next_due)

    def _remaining(self, instance: SagaInstance) -> tuple[PlannedStep, ...]:
        """Going forward, the steps not started yet; compensating, the undos not started yet."""
        definition = self._definitions.get(instance.definition)
        if definition is None or instance.ended:
            return ()
        status = {run.name: run.status for run in instance.steps}
        if instance.phase is Phase.RUNNING:
            return tuple(PlannedStep(name=s.name, participant=s.participant, command=s.command,
                                     compensation=s.compensation)
                         for s in definition.every_step if status.get(s.name) is StepStatus.PENDING)
        return tuple(PlannedStep(name=s.name, participant=s.participant, command=s.compensation)
                     for s in reversed(definition.every_step)
                     if s.compensation is not None and status.get(s.name) is StepStatus.DONE)

def _refusal(errors: list[ValidationError]) -> ValidationError:
    return errors[0] if len(errors) == 1 else InvalidFields(errors)
