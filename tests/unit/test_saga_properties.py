"""The saga engine against a simple model of its participants (hypothesis).

Random interleavings of replies (ok, failed, duplicated, late, reordered), timers (live and
stale) and operator actions drive the place-order saga; then every pending input is handled
(participants now answer ok, timers fire in due order, a paused saga is resumed) until nothing is
pending. Participants apply an effect when they answer, so the model knows what each holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from core.kernel.errors import DomainError
from core.orders.sagas import PLACE_ORDER
from core.runtime.saga import (
    Decision,
    HistoryKind,
    Operator,
    OperatorAction,
    Reply,
    SagaInstance,
    SagaState,
    SendCommand,
    Start,
    StepStatus,
    TimerFired,
    decide,
)

T0 = datetime(2025, 3, 1, tzinfo=UTC)
DATA = {"order_id": "o-1", "customer_id": "c-1", "currency": "EUR",
        "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": "5.00"}], "total": "5.00"}
STEPS = [step.name for step in PLACE_ORDER.every_step]
UNDOABLE = {step.name for step in PLACE_ORDER.every_step if step.compensation}


@dataclass
class World:
    """The saga, its participants' pending answers, the timers the store holds, and what the
    participants hold."""

    instance: SagaInstance | None
    now: datetime = T0
    replies: list[Reply] = field(default_factory=list)       # answers not yet delivered
    delivered: list[Reply] = field(default_factory=list)     # answers delivered (to duplicate)
    timers: dict[tuple[str, int], datetime] = field(default_factory=dict)  # live in the store
    cancelled: list[tuple[str, int]] = field(default_factory=list)         # may still fire, stale
    held: dict[str, bool] = field(default_factory=dict)      # the participant holds stock/credit
    ok_seen: set[str] = field(default_factory=set)           # steps the engine heard succeed
    skipped: bool = False
    ended_once: bool = False
    sent: list[SendCommand] = field(default_factory=list)


def apply(world: World, given: Any, decision: Decision, outcome: Any) -> None:
    before = world.instance
    commands = decision.commands
    assert len({(c.step, c.compensation) for c in commands}) == len(commands), "two tries of one step at once"
    for command in commands:
        if command.compensation:
            assert command.step in world.ok_seen, f"undid {command.step}, which never succeeded"
        elif before is not None and command.step in STEPS and before.step(command.step).status is StepStatus.IN_FLIGHT:
            assert isinstance(given, Operator) and given.action is OperatorAction.RETRY, \
                f"a second try of {command.step} while one is in flight"
        if world.ended_once:
            assert command.compensation and (
                HistoryKind.LATE_SUCCESS in {h.kind for h in decision.history}
                or isinstance(given, TimerFired | Operator)), f"{command} after the end"
        if command.step in STEPS:
            world.replies.append(Reply(step=command.step, attempt=command.attempt, ok=outcome(command),
                                       reason=None, compensation=command.compensation))
    for cancel in decision.cancel_timers:
        if world.timers.pop((cancel.step, cancel.generation), None) is not None:
            world.cancelled.append((cancel.step, cancel.generation))
    for timer in decision.timers:
        world.timers[(timer.step, timer.generation)] = timer.due_at
    world.sent += commands
    world.instance = decision.instance
    world.ended_once = world.ended_once or decision.instance.ended


def deliver(world: World, reply: Reply, outcome: Any) -> None:
    if reply.ok and reply.step in UNDOABLE and reply not in world.delivered:
        world.held[reply.step] = not reply.compensation  # the participant's effect, in answer order
    if reply.ok and not reply.compensation:
        world.ok_seen.add(reply.step)
    world.delivered.append(reply)
    apply(world, reply, decide(PLACE_ORDER, world.instance, reply, world.now), outcome)


def fire(world: World, key: tuple[str, int], outcome: Any) -> None:
    due = world.timers.pop(key, None)
    if due is not None:
        world.now = max(world.now, due)
    given = TimerFired(*key)
    apply(world, given, decide(PLACE_ORDER, world.instance, given, world.now), outcome)


def operate(world: World, op: Operator, outcome: Any) -> None:
    try:
        decision = decide(PLACE_ORDER, world.instance, op, world.now)
    except DomainError:
        return  # refused: the saga is unchanged
    world.skipped = world.skipped or op.action is OperatorAction.SKIP
    apply(world, op, decision, outcome)


ACTIONS = ["deliver", "deliver", "deliver", "duplicate", "timer", "timer", "stale_timer", "operator"]


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_every_interleaving_ends_completed_compensated_or_stuck_and_nothing_stays_held(data: st.DataObject) -> None:
    def random_outcome(command: SendCommand) -> bool:
        return data.draw(st.booleans(), label=f"{command.step} ok")

    world = World(instance=None)
    start = Start("o-1", DATA)
    apply(world, start, decide(PLACE_ORDER, None, start, T0), random_outcome)

    for _ in range(data.draw(st.integers(0, 40), label="steps")):
        action = data.draw(st.sampled_from(ACTIONS))
        if action == "deliver" and world.replies:
            index = data.draw(st.integers(0, len(world.replies) - 1), label="which reply")  # any order
            deliver(world, world.replies.pop(index), random_outcome)
        elif action == "duplicate" and world.delivered:
            deliver(world, data.draw(st.sampled_from(world.delivered), label="duplicate"), random_outcome)
        elif action == "timer" and world.timers:
            fire(world, data.draw(st.sampled_from(sorted(world.timers)), label="timer"), random_outcome)
        elif action == "stale_timer" and world.cancelled:
            fire(world, data.draw(st.sampled_from(world.cancelled), label="stale"), random_outcome)
        elif action == "operator":
            op = Operator(data.draw(st.sampled_from(list(OperatorAction))), data.draw(st.sampled_from(STEPS)),
                          data.draw(st.sampled_from(["", "by hand"])))
            operate(world, op, random_outcome)

    def succeed(_: SendCommand) -> bool:
        return True

    for _ in range(1000):  # drain: participants now answer ok
        if world.instance.paused:
            operate(world, Operator(OperatorAction.RESUME), succeed)
        elif world.replies:
            deliver(world, world.replies.pop(0), succeed)
        elif world.timers:
            fire(world, min(world.timers, key=lambda key: world.timers[key]), succeed)
        else:
            break
    else:
        raise AssertionError(f"the saga never settled: {world.instance.to_json()}")

    final = world.instance
    assert final is not None
    assert final.state in {SagaState.COMPLETED, SagaState.COMPENSATED, SagaState.STUCK}, final.summary()
    assert final.next_due is None
    types = [c.command_type for c in world.sent]
    assert types.count("orders.RejectOrder") == (1 if final.phase.value == "compensated" else 0)
    if "orders.ApproveOrder" in types:
        assert "orders.RejectOrder" not in types  # past the pivot, only forward
    if final.state is SagaState.STUCK or world.skipped:
        return  # a person decides what stays held
    if final.state is SagaState.COMPLETED:
        assert all(world.held.get(step) for step in UNDOABLE), world.held
    else:
        assert not any(world.held.values()), f"{world.held} still held after compensation"

