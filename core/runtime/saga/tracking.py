"""Choreography's process tracking: a saga's timeline with no coordinator, from what the
participants announce. A pure `track(definition, instance, input, now) -> Decision`.

In choreography nobody sends the participants commands: they react to the owner's events
(OrderPlaced, OrderRejected, OrderApproved). The owner follows their answers as events and keeps,
per correlation id, the same instance and history an orchestrated saga keeps, so a person reads
both the same way. The owner acts itself at two points, both in the unit of work of the event that
decides it: the pivot once every step before it is done, and the definition's on_failure command
once one of them failed or went silent past its patience. The decision carries those as commands
for the owner (participant == owner); nothing else is ever sent.

The rules:
- Start puts the first stage in flight with a timer at its patience: the time an orchestrated try
  and its retries would have had (deadline x attempts), so both modes give a silent participant the
  same chance.
- An answer counts once per step: a repeat (the same event delivered twice) is ignored.
- Every step before the pivot done: the pivot is done (the owner acts) and the next stage is in flight.
- A failure or a missed patience before the pivot: the owner acts on_failure at once (it does not
  wait for siblings: the participants undo what they hold when they see the rejection, after the
  placement, in the order of the owner's topic). Steps that were done wait for their undo to be
  announced; steps still in flight that later succeed are a late success and wait for their undo too.
- After the pivot nobody undoes anything: a missed patience is flagged in the history (the sweeper)
  and watched again, the step stays in flight until its event arrives.
- Phase ends: completed when every step is done; compensated when nothing is in flight or being undone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.runtime.saga.decision import Decision, HistoryKind, SendCommand
from core.runtime.saga.definition import SagaDefinition, Step
from core.runtime.saga.inputs import Start, TimerFired
from core.runtime.saga.instance import Phase, SagaInstance, StepRun, StepStatus
from core.runtime.saga.working import Working

CHOREOGRAPHY = "choreography"


@dataclass(frozen=True, kw_only=True)
class Observed:
    """A participant announced the outcome of `step` (or of its undo: `compensation`) in the event
    `message_id`. `reason` says why it failed."""

    step: str
    ok: bool
    message_id: str
    event: str
    compensation: bool = False
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class Decided:
    """A person did the owner's part by hand: approved (`ok`) or rejected or cancelled the subject,
    through the owner's own commands, while its flow ran."""

    ok: bool
    what: str
    reason: str | None = None


TrackInput = Start | Observed | TimerFired | Decided


def patience(step: Step) -> timedelta:
    """How long choreography waits for a step: what orchestration gives its tries together."""
    return step.deadline * (step.retry.max_attempts or 1)


def track(definition: SagaDefinition, instance: SagaInstance | None, given: TrackInput, now: datetime,
          owner: str) -> Decision:
    """The tracker's answer to one input. `owner` names the context that keeps the flow (it acts at
    the pivot and on failure). `instance` is None only for Start."""
    if isinstance(given, Start):
        if instance is not None:
            return _Track(definition, instance, now, owner).ignored("a second start for a flow already tracked")
        return _Track(definition, _new(definition, given, now), now, owner).start()
    if instance is None:
        raise ValueError(f"flow {definition.name}: {type(given).__name__} for a flow never started")
    run = _Track(definition, instance, now, owner)
    if isinstance(given, Decided):
        run.on_decided(given)
    elif isinstance(given, TimerFired):
        run.on_timer(given)
    elif given.compensation:
        run.on_undone(given)
    else:
        run.on_answer(given)
    return run.finish()


def _new(definition: SagaDefinition, start: Start, now: datetime) -> SagaInstance:
    return SagaInstance(
        saga_id=start.saga_id, definition=definition.name, data=start.data, phase=Phase.RUNNING,
        steps=tuple(StepRun(name=step.name) for step in definition.every_step), started_at=now, updated_at=now,
        participants={step.name: step.participant for step in definition.every_step}, mode=CHOREOGRAPHY)


class _Track(Working):
    def __init__(self, definition: SagaDefinition, instance: SagaInstance, now: datetime, owner: str) -> None:
        super().__init__(definition, instance, now)
        self.owner = owner

    # -- inputs -----------------------------------------------------------------------------------

    def start(self) -> Decision:
        first = next(self.definition.stage_steps())
        who = " and ".join(dict.fromkeys(step.participant for step in first))
        self.noted(HistoryKind.STARTED, None, f"started {self.definition.name}: {who} react to it")
        self.begin(first)
        return self.finish()

    def ignored(self, text: str) -> Decision:
        self.noted(HistoryKind.IGNORED, None, text)
        return self.finish()

    def on_answer(self, seen: Observed) -> None:
        run = self.runs.get(seen.step)
        ids = {"message_id": seen.message_id, "event": seen.event}
        if run is None:
            self.noted(HistoryKind.IGNORED, seen.step, f"{seen.event} for a step this flow does not have", **ids)
            return
        if run.status is StepStatus.IN_FLIGHT and self.phase is Phase.RUNNING:
            self.clear_timer(run.name)
            if seen.ok:
                self.put(run.name, status=StepStatus.DONE, reason=None)
                self.noted(HistoryKind.REPLIED, run.name, f"{seen.event}: {run.name} done", **ids)
                self.advance()
            elif self.definition.is_before_pivot(run.name):
                reason = seen.reason or f"{run.name} failed"
                self.put(run.name, status=StepStatus.FAILED, reason=reason)
                self.noted(HistoryKind.FAILED, run.name, f"{seen.event}: {run.name} failed: {reason}", reason=reason,
                          **ids)
                self.give_up(f"{run.name} failed: {reason}")
            else:
                self.noted(HistoryKind.REPLIED, run.name, f"{seen.event}: {run.name} failed after the pivot "
                                                         f"({seen.reason}); nothing goes back", **ids)
            return
        if seen.ok and run.status in (StepStatus.IN_FLIGHT, StepStatus.FAILED) and self.phase is not Phase.RUNNING:
            self.clear_timer(run.name)
            if self.definition.step(run.name).compensation is None:
                self.put(run.name, status=StepStatus.DONE)
                self.noted(HistoryKind.LATE_SUCCESS, run.name, f"{seen.event} after the flow gave up: nothing to "
                                                              f"undo", **ids)
                self.settle()
                return
            # The participant saw the placement before the rejection: it holds something now, and
            # undoes it when it sees the rejection next.
            self.put(run.name, status=StepStatus.COMPENSATING)
            self.phase = Phase.COMPENSATING
            self.noted(HistoryKind.LATE_SUCCESS, run.name, f"{seen.event} after the flow gave up: "
                      f"{self.participant(run.name)} undoes it when it sees the rejection", **ids)
            return
        if not seen.ok and run.status is StepStatus.IN_FLIGHT:
            self.clear_timer(run.name)
            self.put(run.name, status=StepStatus.FAILED, reason=seen.reason)
            self.noted(HistoryKind.REPLIED, run.name, f"{seen.event}: {run.name} failed ({seen.reason}); the flow "
                                                     f"had already given up", **ids)
            self.settle()
            return
        self.noted(HistoryKind.IGNORED, run.name, f"{seen.event} again, or for a step {run.status.value}: "
                                                 f"changes nothing", **ids)

    def on_decided(self, decided: Decided) -> None:
        if self.phase is not Phase.RUNNING:
            self.noted(HistoryKind.IGNORED, None, f"{decided.what} by hand after the flow ended")
            return
        if not decided.ok:
            self.noted(HistoryKind.OPERATOR, None, f"{decided.what} by hand: {decided.reason}", reason=decided.reason)
            self.give_up(f"{decided.what} by hand: {decided.reason}", by_hand=True)
            return
        pivot = self.definition.pivot
        if pivot is None or self.runs[pivot].status is StepStatus.DONE:
            self.noted(HistoryKind.IGNORED, None, f"{decided.what} by hand: already done")
            return
        self.put(pivot, status=StepStatus.DONE, attempt=1)
        self.noted(HistoryKind.OPERATOR, pivot, f"{decided.what} by hand, before the flow got there")
        after = False
        for stage in self.definition.stage_steps():
            if after:
                self.begin(stage)
                break
            after = any(step.name == pivot for step in stage)

    def on_undone(self, seen: Observed) -> None:
        run = self.runs.get(seen.step)
        ids = {"message_id": seen.message_id, "event": seen.event}
        if run is None or run.status is not StepStatus.COMPENSATING:
            what = "nothing of it was being undone" if run is not None else "a step this flow does not have"
            self.noted(HistoryKind.IGNORED, seen.step, f"{seen.event}: {what}", **ids)
            return
        self.put(run.name, status=StepStatus.COMPENSATED)
        self.noted(HistoryKind.REPLIED, run.name, f"{seen.event}: {run.name} undone", **ids)
        self.settle()

    def on_timer(self, fired: TimerFired) -> None:
        run = self.runs.get(fired.step)
        if run is None or run.timer != fired.generation or run.status is not StepStatus.IN_FLIGHT:
            self.stale_timers += 1
            self.noted(HistoryKind.STALE_TIMER, fired.step, f"timer {fired.generation} no longer matters")
            return
        step = self.definition.step(run.name)
        waited = patience(step)
        reason = f"no word from {step.participant} within {waited}"
        self.put(run.name, timer=None, due_at=None)
        if self.phase is Phase.RUNNING and self.definition.is_before_pivot(run.name):
            self.put(run.name, status=StepStatus.FAILED, reason=reason)
            self.noted(HistoryKind.DEADLINE, run.name, reason, reason=reason)
            self.give_up(f"{run.name} failed: {reason}")
        elif self.phase is Phase.RUNNING:
            # After the pivot there is no way back: flag the silence, keep watching.
            self.noted(HistoryKind.DEADLINE, run.name, f"{reason}: still waiting (no way back after the pivot)",
                      reason=reason)
            self.arm(run.name, self.now + waited)
        else:
            self.put(run.name, status=StepStatus.FAILED, reason=reason)
            self.noted(HistoryKind.DEADLINE, run.name, f"{reason}; the flow had already given up", reason=reason)
            self.settle()

    # -- moving on ---------------------------------------------------------------------------------

    def begin(self, steps: tuple[Step, ...]) -> None:
        for step in steps:
            if step.participant == self.owner or self.runs[step.name].status is not StepStatus.PENDING:
                continue  # the owner's own step is done by the owner, in advance(); others are under way
            self.put(step.name, status=StepStatus.IN_FLIGHT, attempt=1)
            self.arm(step.name, self.now + patience(step))

    def advance(self) -> None:
        """Every step of the stages so far done: the owner's step (the pivot) now, then the next stage."""
        for stage in self.definition.stage_steps():
            statuses = {self.runs[step.name].status for step in stage}
            if statuses == {StepStatus.DONE}:
                continue
            if statuses - {StepStatus.DONE, StepStatus.PENDING}:
                return  # still in flight
            for step in stage:
                if step.participant == self.owner and self.runs[step.name].status is StepStatus.PENDING:
                    self.put(step.name, status=StepStatus.DONE, attempt=1)
                    self.commands.append(self.command(step.name, step.command, step.payload(self.instance.data)))
                    self.noted(HistoryKind.SENT, step.name, f"{self.owner} does {step.command} itself")
            self.begin(stage)
            if any(self.runs[step.name].status is StepStatus.IN_FLIGHT for step in stage):
                return
        self.phase = Phase.COMPLETED
        self.noted(HistoryKind.COMPLETED, None, f"{self.definition.name} completed")

    def give_up(self, reason: str, *, by_hand: bool = False) -> None:
        self.phase = Phase.COMPENSATING
        self.reason = reason
        self.noted(HistoryKind.COMPENSATING, None, f"compensating: {reason}", reason=reason)
        for step in self.definition.every_step:
            if self.runs[step.name].status is StepStatus.DONE and step.compensation is not None:
                self.put(step.name, status=StepStatus.COMPENSATING)
        final = self.definition.on_failure
        if final is not None and not by_hand:
            self.commands.append(self.command(final.name, final.command, final.payload(self.instance.data, reason)))
            self.noted(HistoryKind.SENT, final.name, f"{self.owner} does {final.command} itself: "
                                                    f"participants undo what they hold when they see it")
        self.settle()

    def settle(self) -> None:
        if self.phase is not Phase.COMPENSATING:
            return
        if any(run.status in (StepStatus.IN_FLIGHT, StepStatus.COMPENSATING) for run in self.runs.values()):
            return
        self.phase = Phase.COMPENSATED
        self.noted(HistoryKind.COMPENSATED, None, f"{self.definition.name} compensated: {self.reason}")

    # -- bookkeeping -------------------------------------------------------------------------------

    def command(self, step: str, command_type: str, payload: dict[str, object]) -> SendCommand:
        return SendCommand(saga_id=self.instance.saga_id, step=step, attempt=1, participant=self.owner,
                           command_type=command_type, payload=dict(payload))

    def participant(self, name: str) -> str:
        return self.definition.step(name).participant

    def noted(self, kind: HistoryKind, step: str | None, text: str, **data: object) -> None:
        self.note(kind, step, None, text, **data)

    def finish(self) -> Decision:
        return self.decided()
