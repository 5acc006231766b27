"""The saga engine on the place-order and cancel-order definitions, scenario by scenario, in
virtual time (each input carries its `now`): the happy path, refusals, silent participants, late
successes, duplicates, stale timers, operator actions, a stuck compensation, the pivot, the
definition's checks, the JSON round trip and the Mermaid drawing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from core.inventory.wire import release_stock_from_json, reserve_stock_from_json
from core.kernel.errors import IllegalTransition, NotFound, ValidationError
from core.kernel.feed import FeedKind
from core.kernel.money import Money
from core.orders.commands import ApproveOrder, RejectOrder
from core.orders.model import Order, OrderLine
from core.orders.sagas import CANCEL_ORDER, PLACE_ORDER, place_order_data
from core.payments.wire import authorize_payment_from_json, void_payment_from_json
from core.runtime.saga import (
    UNTIL_SUCCESS,
    Branch,
    Decision,
    DefinitionError,
    HistoryKind,
    OnFailure,
    Operator,
    OperatorAction,
    Reply,
    RetryPolicy,
    SagaDefinition,
    SagaInstance,
    SagaState,
    SendCommand,
    Start,
    Step,
    StepStatus,
    TimerFired,
    decide,
    to_mermaid,
)
from core.shipping.wire import cancel_shipment_from_json, schedule_shipment_from_json

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
DATA: dict[str, Any] = {
    "order_id": "o-1", "customer_id": "c-1", "currency": "EUR",
    "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price": "9.99"}], "total": "19.98",
}


class Saga:
    """Feeds one saga its inputs and keeps what it decided, like the saga worker will."""

    def __init__(self, definition: SagaDefinition = PLACE_ORDER, data: dict[str, Any] | None = None) -> None:
        self.definition = definition
        self.now = T0
        self.last = self.do(Start("o-1", data or DATA))

    def do(self, given: Any) -> Decision:
        current = getattr(self, "last", None)
        decision = decide(self.definition, current.instance if current else None, given, self.now)
        self.last = decision
        return decision

    @property
    def instance(self) -> SagaInstance:
        return self.last.instance

    def status(self, step: str) -> StepStatus:
        return self.instance.step(step).status

    def reply(self, step: str, ok: bool = True, reason: str | None = None, attempt: int | None = None,
              compensation: bool = False) -> Decision:
        run = self.instance.step(step)
        if attempt is None:
            attempt = run.compensation_attempt if compensation else run.attempt
        return self.do(Reply(step=step, attempt=attempt, ok=ok, reason=reason, compensation=compensation))

    def fire(self, step: str) -> Decision:
        """Move virtual time to the step's live timer and fire it."""
        run = self.instance.step(step)
        assert run.timer is not None and run.due_at is not None, f"{step} has no live timer"
        self.now = max(self.now, run.due_at)
        return self.do(TimerFired(step, run.timer))

    def operator(self, action: OperatorAction, step: str | None = None, reason: str = "") -> Decision:
        return self.do(Operator(action, step, reason))


def sent(decision: Decision) -> list[tuple[str, str, int]]:
    return [(c.step, c.command_type, c.attempt) for c in decision.commands]


def kinds(decision: Decision) -> list[HistoryKind]:
    return [entry.kind for entry in decision.history]


# -- the business process ---------------------------------------------------------------------


def test_when_every_participant_succeeds_the_order_is_approved_then_shipped_and_the_saga_completes() -> None:
    saga = Saga()
    assert sent(saga.last) == [("reserve-stock", "inventory.ReserveStock", 1),
                               ("authorize-payment", "payments.AuthorizePayment", 1)]
    assert {t.step for t in saga.last.timers} == {"reserve-stock", "authorize-payment"}
    assert saga.instance.state is SagaState.WAITING
    assert saga.instance.summary() == "pending: waiting for inventory and payments"

    assert sent(saga.reply("reserve-stock")) == []  # join ALL: the payment is still out
    assert saga.instance.summary() == "pending: waiting for payments"
    assert sent(saga.reply("authorize-payment")) == [("approve-order", "orders.ApproveOrder", 1)]
    assert sent(saga.reply("approve-order")) == [("schedule-shipment", "shipping.ScheduleShipment", 1)]
    done = saga.reply("schedule-shipment")

    assert sent(done) == [] and HistoryKind.COMPLETED in kinds(done)
    assert saga.instance.state is SagaState.COMPLETED and saga.instance.summary() == "completed"
    assert saga.instance.next_due is None  # every deadline cancelled
    assert [event.kind for event in done.feed] == [FeedKind.SAGA] * len(done.history)
    assert done.feed[-1].data["state"] == "completed"


def test_stock_short_waits_for_the_payment_voids_it_then_rejects_with_the_reason() -> None:
    saga = Saga()
    short = saga.reply("reserve-stock", ok=False, reason="SKU-1 short (1 available)")
    assert sent(short) == []  # a refusal is not asked again, and the payment is still in flight
    assert saga.instance.state is SagaState.COMPENSATING
    assert saga.status("reserve-stock") is StepStatus.FAILED

    assert sent(saga.reply("authorize-payment")) == [("authorize-payment", "payments.VoidPayment", 1)]
    voided = saga.reply("authorize-payment", compensation=True)

    assert sent(voided) == [("on-failure", "orders.RejectOrder", 1)]
    assert voided.commands[0].payload == {"order_id": "o-1",
                                          "reason": "reserve-stock failed: SKU-1 short (1 available)"}
    assert saga.instance.state is SagaState.COMPENSATED
    assert saga.status("reserve-stock") is StepStatus.FAILED  # never reserved, so never released
    assert saga.status("authorize-payment") is StepStatus.COMPENSATED


def test_a_declined_payment_releases_the_reserved_stock_then_rejects() -> None:
    saga = Saga()
    saga.reply("authorize-payment", ok=False, reason="declined: 5.00 EUR available")
    assert sent(saga.reply("reserve-stock")) == [("reserve-stock", "inventory.ReleaseStock", 1)]
    rejected = saga.reply("reserve-stock", compensation=True)
    assert sent(rejected) == [("on-failure", "orders.RejectOrder", 1)]
    assert "declined" in rejected.commands[0].payload["reason"]
    assert saga.instance.summary() == "compensated: authorize-payment failed: declined: 5.00 EUR available"


def test_a_participant_silent_past_its_deadline_is_retried_then_the_saga_compensates() -> None:
    saga = Saga()
    saga.reply("reserve-stock")
    first = saga.fire("authorize-payment")  # 30 s later, no reply
    assert kinds(first)[:2] == [HistoryKind.DEADLINE, HistoryKind.RETRY_SCHEDULED]
    assert saga.instance.state is SagaState.RETRYING and sent(first) == []
    assert sent(saga.fire("authorize-payment")) == [("authorize-payment", "payments.AuthorizePayment", 2)]
    saga.fire("authorize-payment")
    assert sent(saga.fire("authorize-payment")) == [("authorize-payment", "payments.AuthorizePayment", 3)]
    gave_up = saga.fire("authorize-payment")  # the third try is the last (max_attempts=3)

    assert sent(gave_up) == [("reserve-stock", "inventory.ReleaseStock", 1)]
    assert saga.status("authorize-payment") is StepStatus.FAILED
    assert saga.now == T0 + timedelta(seconds=30 + 1 + 30 + 2 + 30)  # deadlines and backoffs, virtual time
    rejected = saga.reply("reserve-stock", compensation=True)
    assert rejected.commands[0].payload["reason"] == \
        "authorize-payment failed: no reply from payments within 0:00:30"


def test_a_success_that_arrives_after_the_step_gave_up_is_undone_at_once() -> None:
    saga = Saga()
    saga.reply("reserve-stock", ok=False, reason="short")
    saga.fire("authorize-payment")  # payments silent: no retry once compensating
    assert saga.status("authorize-payment") is StepStatus.FAILED
    assert saga.instance.state is SagaState.COMPENSATED  # nothing completed, so rejected at once

    late = saga.reply("authorize-payment", ok=True, attempt=1)

    assert sent(late) == [("authorize-payment", "payments.VoidPayment", 1)]
    assert HistoryKind.LATE_SUCCESS in kinds(late)
    assert saga.instance.state is SagaState.COMPENSATING  # ended, but a hold is being given back
    assert sent(saga.reply("authorize-payment", compensation=True)) == []
    assert saga.instance.state is SagaState.COMPENSATED


def test_a_success_of_an_earlier_try_completes_a_step_waiting_for_its_retry() -> None:
    saga = Saga()
    saga.fire("reserve-stock")  # deadline: waits 1 s to retry
    taken = saga.reply("reserve-stock", attempt=1)
    assert saga.status("reserve-stock") is StepStatus.DONE
    assert [c.step for c in taken.cancel_timers] == ["reserve-stock"]  # the retry is called off


def test_duplicate_and_reordered_replies_are_recorded_and_change_nothing() -> None:
    saga = Saga()
    saga.fire("reserve-stock")
    saga.fire("reserve-stock")  # try 2 is out
    assert saga.instance.step("reserve-stock").attempt == 2
    before = saga.instance

    stale_failure = saga.reply("reserve-stock", ok=False, reason="short", attempt=1)
    assert stale_failure.instance.step("reserve-stock").status is StepStatus.IN_FLIGHT
    assert kinds(stale_failure) == [HistoryKind.IGNORED] and sent(stale_failure) == []
    never_sent = saga.reply("reserve-stock", attempt=7)
    assert kinds(never_sent) == [HistoryKind.IGNORED]

    saga.reply("reserve-stock", attempt=2)
    duplicate = saga.reply("reserve-stock", attempt=2)
    assert kinds(duplicate) == [HistoryKind.IGNORED] and sent(duplicate) == []
    assert duplicate.history[0].data["message_id"] == "saga:o-1:reserve-stock:command:2"
    assert saga.instance.steps[1:] == before.steps[1:]  # the payment step was never touched


def test_a_timer_that_fires_after_it_stopped_mattering_is_dropped_and_counted() -> None:
    saga = Saga()
    generation = saga.instance.step("reserve-stock").timer
    assert generation is not None
    answered = saga.reply("reserve-stock")
    assert [(c.step, c.generation) for c in answered.cancel_timers] == [("reserve-stock", generation)]

    stale = saga.do(TimerFired("reserve-stock", generation))  # the store fired it before cancelling

    assert kinds(stale) == [HistoryKind.STALE_TIMER] and sent(stale) == []
    assert saga.instance.stale_timers == 1
    assert saga.status("reserve-stock") is StepStatus.DONE


def test_a_second_start_is_recorded_and_changes_nothing() -> None:
    saga = Saga()
    before = saga.instance
    again = saga.do(Start("o-1", DATA))
    assert sent(again) == [] and kinds(again) == [HistoryKind.IGNORED] and again.instance == before


def test_the_command_message_id_is_derived_so_a_replayed_decision_sends_the_same_ids() -> None:
    one, two = Saga(), Saga()
    assert [c.message_id for c in one.last.commands] == [c.message_id for c in two.last.commands] == [
        "saga:o-1:reserve-stock:command:1", "saga:o-1:authorize-payment:command:1"]


# -- after the pivot --------------------------------------------------------------------------


def test_after_the_pivot_a_failing_shipment_is_retried_and_never_compensated() -> None:
    saga = Saga()
    saga.reply("reserve-stock")
    saga.reply("authorize-payment")
    saga.reply("approve-order")
    everything: list[SendCommand] = []
    for _ in range(15):
        saga.reply("schedule-shipment", ok=False, reason="no carrier slot")
        everything += saga.fire("schedule-shipment").commands  # backoff over, next try
    everything += saga.fire("schedule-shipment").commands  # and a deadline missed: retried too
    everything += saga.fire("schedule-shipment").commands

    assert {c.command_type for c in everything} == {"shipping.ScheduleShipment"}
    assert saga.instance.step("schedule-shipment").attempt == 17
    assert saga.instance.next_due is not None and saga.instance.next_due - saga.now <= timedelta(minutes=5)
    saga.reply("schedule-shipment")
    assert saga.instance.state is SagaState.COMPLETED


def test_compensation_is_refused_once_the_pivot_has_started() -> None:
    saga = Saga()
    saga.reply("reserve-stock")
    saga.reply("authorize-payment")
    with pytest.raises(IllegalTransition, match="past its pivot"):
        saga.operator(OperatorAction.COMPENSATE, reason="customer called")


# -- compensations that keep failing ----------------------------------------------------------


def test_a_compensation_that_keeps_failing_leaves_the_saga_stuck_until_an_operator_retries_it() -> None:
    saga = Saga()
    saga.reply("reserve-stock", ok=False, reason="short")
    saga.reply("authorize-payment")
    for attempt in range(1, 11):
        assert saga.instance.step("authorize-payment").compensation_attempt == attempt
        decision = saga.reply("authorize-payment", ok=False, reason="payments store read-only", compensation=True)
        if attempt < 10:
            assert sent(saga.fire("authorize-payment")) == [("authorize-payment", "payments.VoidPayment",
                                                             attempt + 1)]

    assert HistoryKind.STUCK in kinds(decision) and sent(decision) == []
    assert saga.instance.state is SagaState.STUCK and saga.instance.next_due is None
    assert saga.instance.summary() == ("stuck: undoing authorize-payment failed (payments store read-only); "
                                       "waiting for an operator")

    retried = saga.operator(OperatorAction.RETRY, "authorize-payment")
    assert sent(retried) == [("authorize-payment", "payments.VoidPayment", 11)]
    assert sent(saga.reply("authorize-payment", compensation=True)) == [("on-failure", "orders.RejectOrder", 1)]
    assert saga.instance.state is SagaState.COMPENSATED


def test_a_stuck_compensation_skipped_by_an_operator_lets_the_saga_finish_and_says_so() -> None:
    saga = Saga()
    saga.reply("authorize-payment", ok=False, reason="declined")
    saga.reply("reserve-stock")
    for _ in range(10):
        saga.fire("reserve-stock")  # inventory silent: every undo try times out
        if saga.instance.state is not SagaState.STUCK:
            saga.fire("reserve-stock")
    assert saga.instance.state is SagaState.STUCK

    skipped = saga.operator(OperatorAction.SKIP, "reserve-stock", reason="released by hand in the warehouse")
    assert sent(skipped) == [("on-failure", "orders.RejectOrder", 1)]
    assert saga.status("reserve-stock") is StepStatus.SKIPPED
    assert saga.instance.step("reserve-stock").reason == "released by hand in the warehouse"


# -- operator actions -------------------------------------------------------------------------


def test_an_operator_retry_sends_the_next_try_now_and_calls_off_the_backoff() -> None:
    saga = Saga()
    saga.fire("authorize-payment")
    backoff = saga.instance.step("authorize-payment").timer
    retried = saga.operator(OperatorAction.RETRY, "authorize-payment")
    assert sent(retried) == [("authorize-payment", "payments.AuthorizePayment", 2)]
    assert [c.generation for c in retried.cancel_timers] == [backoff]
    assert retried.history[0].kind is HistoryKind.OPERATOR
    assert retried.feed[0].data["action"] == "retry"


def test_a_skipped_step_is_shown_as_skipped_with_its_reason_and_the_saga_goes_on() -> None:
    saga = Saga()
    saga.reply("reserve-stock")
    with pytest.raises(ValidationError, match="reason"):
        saga.operator(OperatorAction.SKIP, "authorize-payment")
    skipped = saga.operator(OperatorAction.SKIP, "authorize-payment", reason="paid by bank transfer")
    assert sent(skipped) == [("approve-order", "orders.ApproveOrder", 1)]
    assert saga.status("authorize-payment") is StepStatus.SKIPPED  # not DONE: nobody authorized it


def test_a_late_success_of_a_skipped_step_is_undone() -> None:
    saga = Saga()
    saga.operator(OperatorAction.SKIP, "authorize-payment", reason="paid by bank transfer")
    late = saga.reply("authorize-payment", attempt=1)
    assert sent(late) == [("authorize-payment", "payments.VoidPayment", 1)]
    saga.reply("authorize-payment", compensation=True)
    assert sent(saga.reply("reserve-stock")) == [("approve-order", "orders.ApproveOrder", 1)]


def test_a_forced_compensation_waits_for_the_steps_in_flight_then_undoes_what_they_did() -> None:
    saga = Saga()
    forced = saga.operator(OperatorAction.COMPENSATE, reason="customer called")
    assert sent(forced) == [] and saga.instance.state is SagaState.COMPENSATING
    assert sent(saga.reply("reserve-stock")) == []  # the payment is still in flight
    undone = saga.reply("authorize-payment")
    assert sent(undone) == [("reserve-stock", "inventory.ReleaseStock", 1),
                            ("authorize-payment", "payments.VoidPayment", 1)]  # a branch undoes together
    saga.reply("reserve-stock", compensation=True)
    rejected = saga.reply("authorize-payment", compensation=True)
    assert rejected.commands[0].payload["reason"] == "compensated by an operator: customer called"


def test_a_paused_saga_sends_nothing_holds_replies_and_timers_and_handles_them_at_resume() -> None:
    saga = Saga()
    saga.operator(OperatorAction.PAUSE, reason="investigating")
    assert saga.instance.state is SagaState.PAUSED
    held = [saga.reply("reserve-stock"), saga.fire("authorize-payment"), saga.reply("authorize-payment")]
    assert all(sent(d) == [] and kinds(d) == [HistoryKind.HELD] for d in held)
    assert saga.status("reserve-stock") is StepStatus.IN_FLIGHT and len(saga.instance.held) == 3
    with pytest.raises(IllegalTransition, match="paused"):
        saga.operator(OperatorAction.RETRY, "reserve-stock")

    resumed = saga.operator(OperatorAction.RESUME)

    # In arrival order: the stock reserved, the payment's deadline (a retry waits), then its success.
    assert sent(resumed) == [("approve-order", "orders.ApproveOrder", 1)]
    assert saga.instance.held == () and saga.status("authorize-payment") is StepStatus.DONE
    with pytest.raises(IllegalTransition, match="not paused"):
        saga.operator(OperatorAction.RESUME)


def test_operator_actions_name_a_known_step() -> None:
    saga = Saga()
    with pytest.raises(ValidationError, match="step"):
        saga.operator(OperatorAction.RETRY)
    with pytest.raises(NotFound, match="ship-it"):
        saga.operator(OperatorAction.RETRY, "ship-it")
    with pytest.raises(IllegalTransition, match="approve-order pending"):
        saga.operator(OperatorAction.RETRY, "approve-order")


# -- the cancel-order saga --------------------------------------------------------------------


def test_cancelling_an_approved_order_cancels_the_shipment_then_voids_then_releases() -> None:
    saga = Saga(CANCEL_ORDER, {**DATA, "reason": "customer changed their mind"})
    order = [saga.last.commands[0].command_type]
    for step in ("cancel-shipment", "void-payment", "release-stock"):
        decision = saga.reply(step)
        order += [c.command_type for c in decision.commands]
    assert order == ["shipping.CancelShipment", "payments.VoidPayment", "inventory.ReleaseStock"]
    assert saga.instance.state is SagaState.COMPLETED


# -- payloads, definitions, JSON, Mermaid -----------------------------------------------------


def test_every_payload_reads_as_its_participants_wire_format() -> None:
    data = {**DATA, "reason": "customer changed their mind"}
    steps = {step.name: step for step in (*PLACE_ORDER.every_step, *CANCEL_ORDER.every_step)}
    reserve = reserve_stock_from_json(steps["reserve-stock"].payload(data))
    assert [(line.sku, line.quantity) for line in reserve.lines] == [("SKU-1", 2)]
    authorize = authorize_payment_from_json(steps["authorize-payment"].payload(data))
    assert (str(authorize.amount), authorize.currency, authorize.customer_id) == ("19.98", "EUR", "c-1")
    schedule_shipment_from_json(steps["schedule-shipment"].payload(data))
    cancel_shipment_from_json(steps["cancel-shipment"].payload(data))
    release_stock_from_json(PLACE_ORDER.step("reserve-stock").compensation_payload(data))  # type: ignore[misc]
    void_payment_from_json(PLACE_ORDER.step("authorize-payment").compensation_payload(data))  # type: ignore[misc]
    ApproveOrder(**steps["approve-order"].payload(data))
    assert PLACE_ORDER.on_failure is not None
    RejectOrder(**PLACE_ORDER.on_failure.payload(data, "stock short"))


def test_the_saga_data_is_the_order_as_json() -> None:
    order = Order.place(order_id="o-1", customer_id="c-1", currency="EUR", now=T0, event_id="e-1",
                        lines=[OrderLine("SKU-1", 2, Money(Decimal("9.99"), "EUR"))])
    assert place_order_data(order) == DATA


def _step(name: str, **changes: Any) -> Step:
    fields: dict[str, Any] = dict(name=name, participant="inventory", command="inventory.ReserveStock",
                                  payload=dict, deadline=timedelta(seconds=5))
    return Step(**{**fields, **changes})


@pytest.mark.parametrize(("build", "message"), [
    (lambda: SagaDefinition("s", (_step("a"), _step("a")), None), "unique, repeated: a"),
    (lambda: SagaDefinition("s", (_step("a"),), "b"), "pivot 'b' is not one of its steps"),
    (lambda: SagaDefinition("s", (Branch((_step("a"), _step("b"))),), "a"), "not in a branch"),
    (lambda: SagaDefinition("s", (_step("a", retry=UNTIL_SUCCESS), _step(
        "b", retry=UNTIL_SUCCESS, compensation="inventory.ReleaseStock", compensation_payload=dict)), "a"),
     "cannot have a compensation"),
    (lambda: SagaDefinition("s", (_step("a"),), "a"), "retried until it succeeds"),
    (lambda: _step("a", participant="payments"), "not a command of participant 'payments'"),
    (lambda: _step("a", command="ReserveStock"), "not a qualified command type"),
    (lambda: _step("a", compensation="inventory.ReleaseStock"), "both its command and its payload builder"),
    (lambda: Branch((_step("a"),)), "at least two steps"),
    (lambda: RetryPolicy(max_attempts=0), "at least 1"),
    (lambda: OnFailure(participant="orders", command="payments.VoidPayment", payload=lambda d, r: {}),
     "not a command of participant"),
])
def test_a_definition_that_could_not_run_is_refused_when_built(build: Any, message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        build()


def test_an_instance_round_trips_through_json_mid_flight_with_held_inputs() -> None:
    saga = Saga()
    saga.reply("reserve-stock", ok=False, reason="short")
    saga.operator(OperatorAction.PAUSE)
    saga.reply("authorize-payment")
    saga.do(TimerFired("reserve-stock", 99))
    text = json.dumps(saga.instance.to_json())
    back = SagaInstance.from_json(json.loads(text), version=saga.instance.version)
    assert back == saga.instance
    assert json.loads(text)["state"] == "paused"


def test_the_place_order_definition_draws_as_a_mermaid_flowchart() -> None:
    chart = to_mermaid(PLACE_ORDER).splitlines()
    assert chart[0] == "flowchart TD"
    for step in ("reserve_stock", "authorize_payment", "approve_order", "schedule_shipment"):
        assert any(line.strip().startswith(f"step_{step}[") for line in chart), step
    assert "    fork_1 --> step_reserve_stock" in chart and "    fork_1 --> step_authorize_payment" in chart
    assert "    step_reserve_stock --> join_1" in chart and "    step_authorize_payment --> join_1" in chart
    assert "    join_1 --> step_approve_order" in chart
    assert any("step_approve_order[[" in line and "(pivot)" in line for line in chart)
    dotted = [line.strip() for line in chart if "-." in line]
    assert "step_reserve_stock -. undo .-> undo_reserve_stock" in dotted
    assert "step_authorize_payment -. undo .-> undo_authorize_payment" in dotted
    assert 'undo_reserve_stock(["inventory.ReleaseStock"])' in [line.strip() for line in chart]
    assert not any("schedule_shipment -." in line for line in chart)  # nothing after the pivot is undone
    assert "    on_failure -.-> compensated" in chart
