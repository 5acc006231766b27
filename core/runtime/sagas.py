"""The saga runner: makes the pure engine's decisions durable, one input per unit of work.

For each input (a start, a participant's reply, a timer, an operator's action) it loads the saga
through the unit of work, asks `decide`, and stages everything the decision says in that same
unit: the new record (optimistic version), its history rows, one outbox row per command (to the
participant's commands topic, id = the command's message id, so a replayed decision sends the
same ids and the participant's inbox drops the copy), the timers set and cancelled, and the
reply's or timer's inbox entry. Only after the commit are the decision's feed events published.

A command's saga fields (saga id, step, attempt, compensation, reply-to) travel in its body under
`"saga"`: an outbox row carries a type, a key and a body, no headers, in every store. A
participant's consumer pops them before reading the command with its own wire reader.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from core.kernel.envelope import OutboxRecord, canonical_json
from core.kernel.errors import ConcurrencyConflict, NotFound, ValidationError
from core.runtime.saga import (
    Decision,
    Input,
    Operator,
    Reply,
    SagaDefinition,
    SagaInstance,
    SendCommand,
    Start,
    TimerFired,
    decide,
)
from ports.sagas import SagaRecord, Timer
from ports.storage import UnitOfWork
from ports.system import EventFeed

# The key under which a command's body carries its saga fields.
SAGA_FIELD = "saga"
# A reply, a timer and an operator race only on one saga's record; a handful of reloads settles
# any realistic burst (a conflict means another input was just committed for the same saga).
CONFLICT_RETRIES = 5
ENDED_STATES = frozenset({"completed", "compensated"})


def timer_inbox_id(timer: Timer) -> str:
    """The inbox id of a timer firing: a timer acts at most once, however often it is claimed."""
    return f"timer:{timer.saga_id}:{timer.step}:{timer.generation}"


def saga_fields(command: SendCommand, reply_to: str | None) -> dict[str, Any]:
    """What a participant needs to answer a saga's command: where (None: no answer is awaited),
    and for which try."""
    return {"id": command.saga_id, "step": command.step, "attempt": command.attempt,
            "compensation": command.compensation, "reply_to": reply_to}


def reply_from_json(data: Mapping[str, Any]) -> tuple[str, Reply]:
    """A reply as participants publish it -> (saga id, Reply). ValueError/KeyError if malformed."""
    saga_id, step, attempt = data["saga_id"], data["step"], data["attempt"]
    if not isinstance(saga_id, str) or not isinstance(step, str) or isinstance(attempt, bool) \
            or not isinstance(attempt, int) or not isinstance(data["ok"], bool):
        raise ValueError(f"a saga reply needs saga_id, step (strings), attempt (integer) and ok (boolean), "
                         f"got {dict(data)!r}")
    reason = data.get("reason")
    return saga_id, Reply(step=step, attempt=attempt, ok=data["ok"], reason=None if reason is None else str(reason),
                          compensation=bool(data.get("compensation", False)))


def reply_to_json(saga_id: str, reply: Reply) -> dict[str, Any]:
    return {"saga_id": saga_id, "step": reply.step, "attempt": reply.attempt, "ok": reply.ok,
            "reason": reply.reason, "compensation": reply.compensation}


class SagaDriver:
    """What the saga runner and the flow tracker (core/runtime/flows.py) share: the definitions
    they drive, by name; the feed their committed decisions are announced on; the clock; and how
    many times an input that met a conflicting commit is decided again."""

    def __init__(self, definitions: Mapping[str, SagaDefinition], *, feed: EventFeed, now: Callable[[], datetime],
                 conflict_retries: int = CONFLICT_RETRIES) -> None:
        self.definitions = dict(definitions)
        self.feed = feed
        self.now = now
        self.conflict_retries = conflict_retries

    def definition(self, name: str) -> SagaDefinition:
        return definition_named(self.definitions, name)

    def announce(self, decision: Decision) -> None:
        """Publish a committed decision's feed events (what people watch)."""
        for event in decision.feed:
            self.feed.publish(event)

    def _committed(self, uow: UnitOfWork, stage: Callable[[], Decision | None]) -> Decision | None:
        """`stage` one input into `uow` (opened here) and commit it; when another input for the
        same saga committed first (a conflict), open again and decide again on what it left, up
        to `conflict_retries` times. The committed decision is announced. `stage` returns None
        when there is nothing to decide (having committed what it must)."""
        for attempt in range(self.conflict_retries + 1):
            with uow:
                decision = stage()
                if decision is None:
                    return None
                try:
                    uow.commit()
                except ConcurrencyConflict:
                    if attempt < self.conflict_retries:
                        continue
                    raise
            self.announce(decision)
            return decision
        raise AssertionError("unreachable: the last attempt returns or raises")


class SagaRunner(SagaDriver):
    """Drives the sagas of `definitions` (by name). `topics(participant)` names a participant's
    commands topic; replies come back on `replies_topic`."""

    def __init__(self, definitions: Mapping[str, SagaDefinition], *, topics: Callable[[str], str], replies_topic: str,
                 feed: EventFeed, now: Callable[[], datetime], conflict_retries: int = CONFLICT_RETRIES) -> None:
        super().__init__(definitions, feed=feed, now=now, conflict_retries=conflict_retries)
        self.topics = topics
        self.replies_topic = replies_topic

    # -- inputs ---------------------------------------------------------------------------------

    def start(self, uow: UnitOfWork, definition: str, saga_id: str, data: dict[str, Any], *,
              new: bool = False) -> Decision:
        """Stage the saga's start into `uow`, which the caller has open and commits (the order and
        its saga commit together). Publish the returned decision with `announce` after the commit.
        `new`: the saga's id comes from an aggregate this unit of work creates, so no saga can be
        stored under it and none is read (a clash would be the store's to refuse, as a conflict)."""
        record = None if new else uow.sagas.get(saga_id)
        decision = decide(self.definition(definition), instance_of(record), Start(saga_id, data), self.now())
        self._stage(uow, decision, record)
        return decision

    def reply(self, uow: UnitOfWork, saga_id: str, reply: Reply, message_id: str) -> Decision:
        """A participant's reply, at most once per `message_id` (AlreadyProcessed for a repeat)."""
        return self._drive(uow, saga_id, reply, inbox_id=message_id)

    def fire(self, uow: UnitOfWork, timer: Timer) -> Decision | None:
        """A due timer, at most once; it is cancelled in the same unit of work. None when its saga
        is gone (the timer is dropped)."""
        try:
            return self._drive(uow, timer.saga_id, TimerFired(timer.step, timer.generation),
                               inbox_id=timer_inbox_id(timer), fired=timer)
        except NotFound:
            with uow:
                uow.sagas.cancel(timer.saga_id, timer.step, timer.generation)
                uow.commit()
            return None

    def act(self, uow: UnitOfWork, saga_id: str, operator: Operator) -> Decision:
        """An operator's action. Raises what `decide` raises for one the saga's state refuses, and
        ValidationError for a flow tracked in choreography (nobody coordinates it to act on)."""
        record = uow.sagas.get(saga_id)
        if record is not None and record.instance.get("mode", "orchestration") != "orchestration":
            raise ValidationError("saga", f"{saga_id} was choreographed: no coordinator sends its steps, so "
                                          f"there is nothing to {operator.action.value}")
        return self._drive(uow, saga_id, operator, inbox_id=None)

    # -- making it durable ----------------------------------------------------------------------

    def _drive(self, uow: UnitOfWork, saga_id: str, given: Input, *, inbox_id: str | None,
               fired: Timer | None = None) -> Decision:
        def stage() -> Decision:
            if inbox_id is not None:
                uow.inbox.add(inbox_id)  # AlreadyProcessed at once for a repeat
            record = uow.sagas.get(saga_id)
            if record is None:
                raise NotFound("saga", saga_id)
            decision = decide(self.definition(record.definition), instance_of(record), given, self.now())
            self._stage(uow, decision, record)
            if fired is not None:
                uow.sagas.cancel(fired.saga_id, fired.step, fired.generation)
            return decision

        decision = self._committed(uow, stage)
        assert decision is not None, "stage always decides"
        return decision

    def _stage(self, uow: UnitOfWork, decision: Decision, record: SagaRecord | None) -> None:
        stage_decision(uow, decision, record)
        instance = decision.instance
        version = record.version if record is not None else 0
        final = self.definition(instance.definition).on_failure
        for command in decision.commands:
            # The on_failure command ends a saga that already ended: nobody waits for its answer.
            awaited = final is None or command.step != final.name
            uow.send(self._outbox_record(command, version + 1, instance.updated_at,
                                         self.replies_topic if awaited else None))

    def _outbox_record(self, command: SendCommand, version: int, now: datetime,
                       reply_to: str | None) -> OutboxRecord:
        body = {"type": command.command_type, **command.payload, SAGA_FIELD: saga_fields(command, reply_to)}
        return OutboxRecord(event_id=command.message_id, aggregate_id=command.saga_id, aggregate_version=version,
                            type=command.command_type, payload=canonical_json(body),
                            created_at=now, topic=self.topics(command.participant))


def definition_named(definitions: Mapping[str, SagaDefinition], name: str) -> SagaDefinition:
    """The definition `name`, or NotFound listing the known ones."""
    found = definitions.get(name)
    if found is None:
        raise NotFound("saga definition", f"{name} (known: {', '.join(sorted(definitions))})")
    return found


def stage_decision(uow: UnitOfWork, decision: Decision, record: SagaRecord | None) -> None:
    """Stage a decision's instance (optimistic on `record`'s version), history and timers into `uow`
    (its commands are the caller's: sent by the orchestrator, done in place by a choreography's owner)."""
    instance = decision.instance
    uow.sagas.save(SagaRecord(
        saga_id=instance.saga_id, definition=instance.definition, state=instance.state.value,
        instance=instance.to_json(), version=record.version if record is not None else 0,
        started_at=instance.started_at, updated_at=instance.updated_at, next_due=instance.next_due))
    if decision.history:
        uow.sagas.record_history(instance.saga_id, [entry.to_json() for entry in decision.history])
    for cancel in decision.cancel_timers:
        uow.sagas.cancel(cancel.saga_id, cancel.step, cancel.generation)
    for timer in decision.timers:
        uow.sagas.schedule(Timer(timer.saga_id, timer.step, timer.generation, timer.due_at))


def instance_of(record: SagaRecord | None) -> SagaInstance | None:
    return None if record is None else SagaInstance.from_json(record.instance, version=record.version)


def is_running(record: SagaRecord | None) -> bool:
    """Whether a saga holds its subject (a semantic lock): started and not yet ended."""
    return record is not None and record.state not in ENDED_STATES


__all__: Sequence[str] = ("SAGA_FIELD", "SagaDriver", "SagaRunner", "definition_named", "instance_of", "is_running",
                          "reply_from_json", "reply_to_json", "saga_fields", "stage_decision", "timer_inbox_id")
