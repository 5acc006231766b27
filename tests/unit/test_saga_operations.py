"""The SagaOperations port over the real memory store and the real saga runner: listing and
filtering sagas, one saga in full, each operator action leaving its history entry and feed event,
refusals naming every bad field, the engine's 409-worthy refusals, and the Mermaid graph."""

from __future__ import annotations

import pytest

from core.kernel.errors import IllegalTransition, InvalidFields, NotFound, ValidationError
from core.kernel.feed import FeedKind
from ports.sagas import SagaDetail
from tests.saga_kit import SagaKit


@pytest.fixture
def kit() -> SagaKit:
    return SagaKit()


def operator_entries(detail: SagaDetail) -> list[str]:
    return [item.text for item in detail.history if item.kind == "operator"]


def test_a_started_saga_is_listed_with_its_order_state_and_steps(kit):
    kit.start("o-1")
    [view] = kit.operations.sagas()
    assert (view.saga_id, view.subject, view.mode, view.state) == ("o-1", "o-1", "orchestration", "waiting")
    assert [(s.name, s.participant, s.status) for s in view.steps] == [
        ("reserve-stock", "inventory", "in_flight"), ("authorize-payment", "payments", "in_flight"),
        ("approve-order", "orders", "pending"), ("schedule-shipment", "shipping", "pending")]
    assert view.next_due is not None and view.summary == "pending: waiting for inventory and payments"


def test_sagas_are_filtered_by_state_and_counted(kit):
    kit.start("o-1")
    kit.start("o-2")
    kit.operations.act("o-2", "pause")
    assert [v.saga_id for v in kit.operations.sagas(state="paused")] == ["o-2"]
    assert [v.saga_id for v in kit.operations.sagas(state="waiting")] == ["o-1"]
    assert kit.operations.counts() == {"waiting": 1, "paused": 1}


def test_an_unknown_state_filter_is_refused_naming_it(kit):
    with pytest.raises(ValidationError) as refused:
        kit.operations.sagas(state="sleeping")
    assert refused.value.field == "state" and "waiting" in refused.value.message


def test_a_saga_in_full_has_its_timeline_with_message_ids_and_its_remaining_steps(kit):
    kit.start("o-1")
    detail = kit.operations.saga("o-1")
    assert [item.kind for item in detail.history] == ["started", "sent", "sent"]
    assert detail.history[1].message_ids == ("saga:o-1:reserve-stock:command:1",)
    assert [step.name for step in detail.remaining] == ["approve-order", "schedule-shipment"]
    kit.reply("o-1", "reserve-stock")
    kit.reply("o-1", "authorize-payment")
    assert [step.name for step in kit.operations.saga("o-1").remaining] == ["schedule-shipment"]


def test_an_unknown_saga_is_not_found(kit):
    with pytest.raises(NotFound):
        kit.operations.saga("o-404")
    with pytest.raises(NotFound):
        kit.operations.act("o-404", "pause")


def test_pause_then_resume_each_leave_a_history_entry_and_a_feed_event(kit):
    kit.start("o-1")
    paused = kit.operations.act("o-1", "pause", reason="looking into payments")
    assert paused.saga.state == "paused" and paused.paused
    resumed = kit.operations.act("o-1", "resume")
    assert resumed.saga.state == "waiting"
    assert operator_entries(resumed) == ["operator: paused: looking into payments",
                                         "operator: resumed; handling 0 held input(s)"]
    actions = [e.data.get("action") for e in kit.feed.recent() if e.kind is FeedKind.SAGA]
    assert actions[-2:] == ["pause", "resume"]


def test_retry_sends_the_step_again_with_a_new_attempt(kit):
    kit.start("o-1")
    detail = kit.operations.act("o-1", "retry", step="authorize-payment")
    step = next(s for s in detail.saga.steps if s.name == "authorize-payment")
    assert step.attempt == 2 and step.status == "in_flight"
    assert operator_entries(detail) == ["operator: retry authorize-payment now"]
    assert "saga:o-1:authorize-payment:command:2" in detail.history[-1].message_ids


def test_skip_shows_the_step_as_skipped_with_its_reason(kit):
    kit.start("o-1")
    detail = kit.operations.act("o-1", "skip", step="reserve-stock", reason="stock counted by hand")
    step = next(s for s in detail.saga.steps if s.name == "reserve-stock")
    assert (step.status, step.reason) == ("skipped", "stock counted by hand")
    assert operator_entries(detail) == ["operator: skip reserve-stock: stock counted by hand"]


def test_compensate_before_the_pivot_undoes_what_completed_instead_of_going_on(kit):
    kit.start("o-1")
    kit.reply("o-1", "reserve-stock")
    detail = kit.operations.act("o-1", "compensate", reason="customer phoned")
    assert detail.saga.state == "compensating"
    assert operator_entries(detail) == ["operator: compensated by an operator: customer phoned"]
    assert [(step.name, step.command) for step in detail.remaining] == [("reserve-stock", "inventory.ReleaseStock")]


def test_an_action_the_sagas_state_forbids_is_an_illegal_transition_and_changes_nothing(kit):
    kit.start("o-1")
    before = kit.operations.saga("o-1")
    with pytest.raises(IllegalTransition) as refused:
        kit.operations.act("o-1", "resume")
    assert refused.value.kind == "saga" and "cannot resume" in str(refused.value)
    assert kit.operations.saga("o-1") == before


def test_bad_input_names_every_bad_field_at_once(kit):
    kit.start("o-1")
    with pytest.raises(InvalidFields) as refused:
        kit.operations.act("o-1", "skip", step="wash-car", reason=" ")
    assert [e.field for e in refused.value.errors] == ["step", "reason"]
    with pytest.raises(ValidationError) as unknown:
        kit.operations.act("o-1", "dance")
    assert unknown.value.field == "action"
    with pytest.raises(ValidationError) as stepless:
        kit.operations.act("o-1", "retry")
    assert stepless.value.field == "step"


def test_graph_draws_a_definition_and_refuses_an_unknown_one(kit):
    graph = kit.operations.graph("place-order")
    assert graph.startswith("flowchart TD\n") and "inventory.ReserveStock" in graph
    with pytest.raises(NotFound) as unknown:
        kit.operations.graph("make-tea")
    assert "place-order" in str(unknown.value)


def test_documents_round_trip_through_json(kit):
    kit.start("o-1")
    kit.operations.act("o-1", "pause")
    detail = kit.operations.saga("o-1")
    assert SagaDetail.from_json(detail.to_json()) == detail
