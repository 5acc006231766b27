"""The saga engine: a pure `decide(definition, instance, input, now) -> Decision`.

No I/O, no clock, no ids: the same instance and input give the same decision, so a decision
replayed after a crash sends the same commands with the same message ids.

The rules, in the order a saga meets them:
- Going forward, each stage starts when the one before it is done (or skipped); a branch's steps
  start together. Each try sends the command and sets a deadline timer.
- A reply counts once: a duplicate, or a failed reply to a try that no longer counts, is
  recorded and changes nothing. A success of any try of a step still waiting for it completes
  the step: every try asks the participant for the same thing.
- A failed reply or a missed deadline is retried as the step's RetryPolicy allows; after that,
  before the pivot, the saga compensates: it waits for the steps still in flight, undoes the
  completed ones stage by stage, latest first (a branch's undos run together), then sends the
  definition's on_failure command with the reason. Undos are retried by their own policy; one
  that fails past it leaves the saga stuck, waiting for an operator.
- A late success (a success after its step gave up, was skipped, or was undone, or after the
  saga ended) is undone at once, so nothing stays held.
- A timer whose generation is not its step's live one is stale: dropped and counted.
- A paused saga sends nothing and acts on no timer: replies and timers are held in the instance
  and handled, in arrival order, when it resumes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta

from core.kernel.errors import IllegalTransition, NotFound, ValidationError
from core.runtime.saga.decision import (
    Decision,
    HistoryKind,
    SendCommand,
    message_id,
)
from core.runtime.saga.definition import SagaDefinition, Step
from core.runtime.saga.inputs import Held, Input, Operator, OperatorAction, Reply, Start, TimerFired
from core.runtime.saga.instance import AWAITING, UNDOING, Phase, SagaInstance, StepRun, StepStatus
from core.runtime.saga.working import Working

# Going forward, a stage is over once none of its steps is still open. A step skipped by an
# operator whose late success was then undone is over too: the saga went on without it.
_OPEN = AWAITING | {StepStatus.PENDING, StepStatus.FAILED}


def decide(definition: SagaDefinition, instance: SagaInstance | None, given: Input, now: datetime) -> Decision:
    """The engine's answer to one input. `instance` is None only for Start.

    Raises ValueError for an input that cannot belong to this saga (no instance, another
    definition), IllegalTransition for an operator action the saga's state does not allow, and
    ValidationError / NotFound for an operator action naming no step, an unknown step or no reason.
    """
    if isinstance(given, Start):
        if instance is not None:
            return _Run(definition, instance, now).ignore_start(given)
        return _Run(definition, _new_instance(definition, given, now), now).start()
    if instance is None:
        raise ValueError(f"saga {definition.name}: {type(given).__name__} for a saga that was never started")
    if instance.definition != definition.name:
        raise ValueError(f"saga {instance.saga_id} runs definition {instance.definition!r}, not {definition.name!r}")
    run = _Run(definition, instance, now)
    if isinstance(given, Operator):
        return run.operator(given)
    return run.receive(given)


def _new_instance(definition: SagaDefinition, start: Start, now: datetime) -> SagaInstance:
    try:
        json.dumps(start.data)
    except (TypeError, ValueError) as exc:
        raise ValidationError("data", f"a saga's data must be JSON-ready: {exc}") from exc
    return SagaInstance(
        saga_id=start.saga_id, definition=definition.name, data=start.data, phase=Phase.RUNNING,
        steps=tuple(StepRun(name=step.name) for step in definition.every_step), started_at=now, updated_at=now,
        participants={step.name: step.participant for step in definition.every_step},
    )


class _Run(Working):
    """One decision being made: a working copy of the instance plus the effects collected."""

    def __init__(self, definition: SagaDefinition, instance: SagaInstance, now: datetime) -> None:
        names = [step.name for step in definition.every_step]
        if [run.name for run in instance.steps] != names:
            raise ValueError(f"saga {instance.saga_id} has steps {[run.name for run in instance.steps]}, but "
                             f"definition {definition.name!r} now has {names}")
        super().__init__(definition, instance, now)
        self.paused = instance.paused
        self.held: list[Held] = list(instance.held)

    # -- entry points -------------------------------------------------------------------------

    def start(self) -> Decision:
        self.note(HistoryKind.STARTED, None, None, f"started {self.definition.name}")
        self.advance()
        return self.finish()

    def ignore_start(self, start: Start) -> Decision:
        self.note(HistoryKind.IGNORED, None, None, "a second start for a saga already started: ignored",
                  saga_id=start.saga_id)
        return self.finish()

    def receive(self, given: Held) -> Decision:
        if self.paused:
            self.held.append(given)
            self.note(HistoryKind.HELD, given.step, getattr(given, "attempt", None),
                      f"held while paused: {_describe(given)}")
            return self.finish()
        self.handle(given)
        self.advance()
        return self.finish()

    def operator(self, op: Operator) -> Decision:
        actions = {
            OperatorAction.RETRY: self.op_retry, OperatorAction.SKIP: self.op_skip,
            OperatorAction.COMPENSATE: self.op_compensate, OperatorAction.PAUSE: self.op_pause,
            OperatorAction.RESUME: self.op_resume,
        }
        actions[op.action](op)
        self.advance()
        return self.finish()

    def handle(self, given: Held) -> None:
        if isinstance(given, TimerFired):
            self.on_timer(given)
        elif given.compensation:
            self.on_compensation_reply(given)
        else:
            self.on_reply(given)

    # -- replies and timers -------------------------------------------------------------------

    def on_reply(self, reply: Reply) -> None:
        run = self.runs.get(reply.step)
        sent = dict(message_id=message_id(self.instance.saga_id, reply.step, reply.attempt, False))
        if run is None or not 1 <= reply.attempt <= run.attempt:
            self.note(HistoryKind.IGNORED, reply.step, reply.attempt, f"{_describe(reply)} to a try never sent", **sent)
            return
        if reply.attempt in run.answered:
            self.note(HistoryKind.IGNORED, reply.step, reply.attempt, f"duplicate {_describe(reply)}", **sent)
            return
        self.put(run.name, answered=(*run.answered, reply.attempt))
        step = self.definition.step(run.name)
        if reply.ok:
            if run.status in AWAITING:
                self.clear_timer(run.name)
                self.put(run.name, status=StepStatus.DONE, reason=None)
                earlier = " (an earlier try)" if reply.attempt < run.attempt else ""
                self.note(HistoryKind.REPLIED, run.name, reply.attempt, f"{step.command} succeeded{earlier}", **sent)
            elif run.status is StepStatus.DONE:
                self.note(HistoryKind.IGNORED, run.name, reply.attempt,
                          f"another try of {step.command} succeeded; the step is already done", **sent)
            elif step.compensation is None:
                self.note(HistoryKind.LATE_SUCCESS, run.name, reply.attempt,
                          f"{step.command} succeeded late; it has nothing to undo", **sent)
            else:
                self.note(HistoryKind.LATE_SUCCESS, run.name, reply.attempt,
                          f"{step.command} succeeded late ({run.status.value}): undoing it at once", **sent)
                self.clear_timer(run.name)
                self.put(run.name, tries=0)
                self.send_compensation(step)
            return
        reason = reply.reason or f"{step.command} failed"
        if run.status is StepStatus.IN_FLIGHT and reply.attempt == run.attempt:
            self.note(HistoryKind.REPLIED, run.name, reply.attempt, f"{step.command} failed: {reason}", reason=reason,
                      **sent)
            self.fail_try(step, reason, timed_out=False)
        else:
            self.note(HistoryKind.IGNORED, run.name, reply.attempt,
                      f"{step.command} failed ({reason}) on a try that no longer counts", reason=reason, **sent)

    def on_compensation_reply(self, reply: Reply) -> None:
        run = self.runs.get(reply.step)
        sent = dict(message_id=message_id(self.instance.saga_id, reply.step, reply.attempt, True))
        if run is None or not 1 <= reply.attempt <= run.compensation_attempt:
            self.note(HistoryKind.IGNORED, reply.step, reply.attempt, f"{_describe(reply)} to a try never sent", **sent)
            return
        if reply.attempt in run.compensations_answered:
            self.note(HistoryKind.IGNORED, reply.step, reply.attempt, f"duplicate {_describe(reply)}", **sent)
            return
        self.put(run.name, compensations_answered=(*run.compensations_answered, reply.attempt))
        step = self.definition.step(run.name)
        counts = reply.attempt == run.compensation_attempt
        if reply.ok and counts and run.status in UNDOING | {StepStatus.COMPENSATION_FAILED, StepStatus.SKIPPED}:
            self.clear_timer(run.name)
            self.put(run.name, status=StepStatus.COMPENSATED)
            self.note(HistoryKind.REPLIED, run.name, reply.attempt, f"{step.compensation} succeeded", **sent)
        elif not reply.ok and counts and run.status is StepStatus.COMPENSATING:
            reason = reply.reason or f"{step.compensation} failed"
            self.note(HistoryKind.REPLIED, run.name, reply.attempt, f"{step.compensation} failed: {reason}",
                      reason=reason, **sent)
            self.fail_compensation_try(step, reason)
        else:
            self.note(HistoryKind.IGNORED, run.name, reply.attempt,
                      f"{_describe(reply)} to a try that no longer counts", **sent)

    def on_timer(self, timer: TimerFired) -> None:
        run = self.runs.get(timer.step)
        if run is None or run.timer != timer.generation:
            self.stale_timers += 1
            self.note(HistoryKind.STALE_TIMER, timer.step, None,
                      f"timer {timer.generation} of {timer.step} is stale: dropped", generation=timer.generation)
            return
        self.put(run.name, timer=None, due_at=None)
        step = self.definition.step(run.name)
        if run.status is StepStatus.IN_FLIGHT:
            reason = f"no reply from {step.participant} within {step.deadline}"
            self.note(HistoryKind.DEADLINE, run.name, run.attempt, f"{step.command}: {reason}")
            self.fail_try(step, reason, timed_out=True)
        elif run.status is StepStatus.RETRY_WAIT:
            self.send(step)
        elif run.status is StepStatus.COMPENSATING:
            reason = f"no reply from {step.participant} within {step.deadline}"
            self.note(HistoryKind.DEADLINE, run.name, run.compensation_attempt, f"{step.compensation}: {reason}")
            self.fail_compensation_try(step, reason)
        elif run.status is StepStatus.COMPENSATION_WAIT:
            self.send_compensation(step)

    # -- operator actions ---------------------------------------------------------------------

    def op_retry(self, op: Operator) -> None:
        step = self.named_step(op)
        run = self.runs[step.name]
        if self.paused:
            raise IllegalTransition(self.instance.saga_id, "paused", f"retry {step.name} (resume it first)",
                                    kind="saga")
        if run.status in AWAITING and self.phase is Phase.RUNNING:
            self.operator_note(op, f"retry {step.name} now")
            self.clear_timer(step.name)
            self.put(step.name, tries=0)
            self.send(step)
        elif run.status in UNDOING | {StepStatus.COMPENSATION_FAILED}:
            self.operator_note(op, f"retry undoing {step.name} now")
            self.clear_timer(step.name)
            self.put(step.name, tries=0)
            self.send_compensation(step)
        else:
            raise IllegalTransition(self.instance.saga_id, f"{self.phase.value}, step {step.name} {run.status.value}",
                                    f"retry {step.name}", kind="saga")

    def op_skip(self, op: Operator) -> None:
        step = self.named_step(op)
        run = self.runs[step.name]
        if not op.reason.strip():
            raise ValidationError("reason", f"skipping {step.name} needs a reason, shown in the saga's history")
        undoing = run.status in UNDOING | {StepStatus.COMPENSATION_FAILED} or (
            self.phase is Phase.COMPENSATING and run.status is StepStatus.DONE and step.compensation is not None)
        if undoing:
            self.operator_note(op, f"skip undoing {step.name}: {op.reason}")
        elif self.phase is Phase.RUNNING and run.status in AWAITING | {StepStatus.PENDING}:
            self.operator_note(op, f"skip {step.name}: {op.reason}")
        else:
            raise IllegalTransition(self.instance.saga_id, f"{self.phase.value}, step {step.name} {run.status.value}",
                                    f"skip {step.name}", kind="saga")
        self.clear_timer(step.name)
        self.put(step.name, status=StepStatus.SKIPPED, reason=op.reason)

    def op_compensate(self, op: Operator) -> None:
        pivot = self.definition.pivot
        if self.phase is not Phase.RUNNING:
            raise IllegalTransition(self.instance.saga_id, self.phase.value, "compensate", kind="saga")
        if pivot is None or self.runs[pivot].status is not StepStatus.PENDING:
            raise IllegalTransition(self.instance.saga_id, "past its pivot (it only goes forward)", "compensate",
                                    kind="saga")
        reason = f"compensated by an operator: {op.reason}" if op.reason.strip() else "compensated by an operator"
        self.operator_note(op, reason)
        self.begin_compensation(reason)

    def op_pause(self, op: Operator) -> None:
        if self.paused:
            raise IllegalTransition(self.instance.saga_id, "paused", "pause", kind="saga")
        if self.ended and not any(run.status in UNDOING for run in self.runs.values()):
            raise IllegalTransition(self.instance.saga_id, self.phase.value, "pause", kind="saga")
        self.operator_note(op, "paused" + (f": {op.reason}" if op.reason.strip() else ""))
        self.paused = True

    def op_resume(self, op: Operator) -> None:
        if not self.paused:
            raise IllegalTransition(self.instance.saga_id, "not paused", "resume", kind="saga")
        held, self.held = self.held, []
        self.paused = False
        self.operator_note(op, f"resumed; handling {len(held)} held input(s)")
        for given in held:
            self.handle(given)

    def named_step(self, op: Operator) -> Step:
        if not op.step:
            raise ValidationError("step", f"{op.action.value} names a step of {self.definition.name}: "
                                          f"{', '.join(s.name for s in self.definition.every_step)}")
        try:
            return self.definition.step(op.step)
        except KeyError:
            raise NotFound(f"step of saga {self.instance.saga_id}", op.step) from None

    def operator_note(self, op: Operator, text: str) -> None:
        self.note(HistoryKind.OPERATOR, op.step, None, f"operator: {text}", action=op.action.value, reason=op.reason)

    # -- moving on ----------------------------------------------------------------------------

    def advance(self) -> None:
        """Start what can start, end what has ended. Does nothing while paused."""
        if self.paused:
            return
        if self.phase is Phase.RUNNING:
            for stage in self.definition.stage_steps():
                if not any(self.runs[step.name].status in _OPEN for step in stage):
                    continue
                for step in stage:
                    if self.runs[step.name].status is StepStatus.PENDING:
                        self.send(step)
                return
            self.phase = Phase.COMPLETED
            self.note(HistoryKind.COMPLETED, None, None, f"{self.definition.name} completed")
        elif self.phase is Phase.COMPENSATING:
            if any(run.status in AWAITING for run in self.runs.values()):
                return  # siblings still in flight: their replies or deadlines come first
            for stage in reversed(list(self.definition.stage_steps())):
                for step in stage:
                    if step.compensation is not None and self.runs[step.name].status is StepStatus.DONE:
                        self.put(step.name, tries=0)
                        self.send_compensation(step)
                busy = UNDOING | {StepStatus.COMPENSATION_FAILED}
                if any(self.runs[step.name].status in busy for step in stage):
                    return
            self.phase = Phase.COMPENSATED
            self.send_on_failure()
            self.note(HistoryKind.COMPENSATED, None, None, f"{self.definition.name} compensated: {self.reason}")

    def begin_compensation(self, reason: str) -> None:
        self.phase = Phase.COMPENSATING
        self.reason = reason
        self.note(HistoryKind.COMPENSATING, None, None, f"compensating: {reason}", reason=reason)
        for run in list(self.runs.values()):
            if run.status is StepStatus.RETRY_WAIT:
                self.clear_timer(run.name)
                self.put(run.name, status=StepStatus.FAILED, reason=f"not retried: {reason}")

    def fail_try(self, step: Step, reason: str, *, timed_out: bool) -> None:
        run = self.runs[step.name]
        policy = step.retry
        if self.phase is Phase.RUNNING and (timed_out or policy.retry_failures) and policy.allows_another(run.tries):
            self.retry_later(step, reason, policy.delay(run.tries), StepStatus.RETRY_WAIT, self.send)
            return
        self.clear_timer(step.name)
        self.put(step.name, status=StepStatus.FAILED, reason=reason)
        self.note(HistoryKind.FAILED, step.name, run.attempt, f"{step.name} failed: {reason}", reason=reason)
        if self.phase is Phase.RUNNING:
            self.begin_compensation(f"{step.name} failed: {reason}")

    def fail_compensation_try(self, step: Step, reason: str) -> None:
        run = self.runs[step.name]
        policy = step.compensation_retry
        if policy.allows_another(run.tries):
            self.retry_later(step, reason, policy.delay(run.tries), StepStatus.COMPENSATION_WAIT,
                             self.send_compensation)
            return
        self.clear_timer(step.name)
        self.put(step.name, status=StepStatus.COMPENSATION_FAILED, reason=reason)
        self.note(HistoryKind.STUCK, step.name, run.compensation_attempt,
                  f"undoing {step.name} failed {run.tries} times ({reason}): stuck, waiting for an operator",
                  reason=reason)

    def retry_later(self, step: Step, reason: str, delay: timedelta, waiting: StepStatus,
                    send: Callable[[Step], None]) -> None:
        if delay.total_seconds() <= 0:
            send(step)
            return
        due = self.now + delay
        self.put(step.name, status=waiting, reason=reason)
        self.arm(step.name, due)
        self.note(HistoryKind.RETRY_SCHEDULED, step.name, None, f"{step.name}: next try at {due.isoformat()}",
                  reason=reason, due_at=due.isoformat())

    # -- effects ------------------------------------------------------------------------------

    def send(self, step: Step) -> None:
        run = self.runs[step.name]
        command = SendCommand(saga_id=self.instance.saga_id, step=step.name, attempt=run.attempt + 1,
                              participant=step.participant, command_type=step.command,
                              payload=step.payload(self.instance.data))
        self.commands.append(command)
        self.put(step.name, status=StepStatus.IN_FLIGHT, attempt=command.attempt, tries=run.tries + 1)
        self.arm(step.name, self.now + step.deadline)
        self.note(HistoryKind.SENT, step.name, command.attempt, f"sent {step.command} (try {command.attempt})",
                  message_id=command.message_id, command=step.command)

    def send_compensation(self, step: Step) -> None:
        assert step.compensation is not None and step.compensation_payload is not None
        run = self.runs[step.name]
        command = SendCommand(saga_id=self.instance.saga_id, step=step.name, attempt=run.compensation_attempt + 1,
                              participant=step.participant, command_type=step.compensation,
                              payload=step.compensation_payload(self.instance.data), compensation=True)
        self.commands.append(command)
        self.put(step.name, status=StepStatus.COMPENSATING, compensation_attempt=command.attempt, tries=run.tries + 1)
        self.arm(step.name, self.now + step.deadline)
        self.note(HistoryKind.SENT, step.name, command.attempt,
                  f"sent {step.compensation} to undo {step.name} (try {command.attempt})",
                  message_id=command.message_id, command=step.compensation, compensation=True)

    def send_on_failure(self) -> None:
        final = self.definition.on_failure
        if final is None:
            return
        command = SendCommand(saga_id=self.instance.saga_id, step=final.name, attempt=1,
                              participant=final.participant, command_type=final.command,
                              payload=final.payload(self.instance.data, self.reason or "saga compensated"))
        self.commands.append(command)
        self.note(HistoryKind.SENT, final.name, 1, f"sent {final.command}", message_id=command.message_id,
                  command=final.command)

    @property
    def ended(self) -> bool:
        return self.phase in (Phase.COMPLETED, Phase.COMPENSATED)

    def finish(self) -> Decision:
        return self.decided(paused=self.paused, held=tuple(self.held))


def _describe(given: Held) -> str:
    if isinstance(given, TimerFired):
        return f"timer {given.generation} of {given.step}"
    kind = "undo" if given.compensation else "reply"
    outcome = "ok" if given.ok else f"failed ({given.reason})" if given.reason else "failed"
    return f"{kind} {outcome} from {given.step} try {given.attempt}"
