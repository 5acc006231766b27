"""Health hysteresis and the partition guard (core/runtime/health.py), on virtual time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.kernel.errors import ValidationError
from core.runtime.health import GuardSettings, HealthBoard, HealthSettings, PartitionGuard, ProbeResult
from ports.registry import InstanceRecord

PASS = ProbeResult(True, "HTTP 200")
REFUSED = ProbeResult(False, "connection refused")
KEY = "payments/p-1"


class ManualClock:
    def __init__(self) -> None:
        self.current = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def board(clock: ManualClock) -> HealthBoard:
    return HealthBoard(clock, HealthSettings(fall=3, rise=2))


def feed(board: HealthBoard, clock: ManualClock, *results: ProbeResult) -> list[str]:
    """Record each result a second apart; the state after each."""
    states = []
    for result in results:
        clock.advance(1)
        board.record(KEY, result)
        states.append(board.health(KEY).state)
    return states


# ---------------------------------------------------------------------------------------------
# Hysteresis.


def test_a_new_instance_is_up_after_its_first_passing_probe(board: HealthBoard, clock: ManualClock) -> None:
    assert board.health(KEY).state == "unknown"
    assert feed(board, clock, PASS) == ["up"]


def test_a_new_instance_that_never_answers_is_down_after_fall_failures(board: HealthBoard, clock: ManualClock) -> None:
    assert feed(board, clock, REFUSED, REFUSED, REFUSED) == ["unknown", "unknown", "down"]


def test_an_up_instance_goes_down_only_after_fall_consecutive_failures(board: HealthBoard, clock: ManualClock) -> None:
    states = feed(board, clock, PASS, REFUSED, REFUSED, PASS, REFUSED, REFUSED, REFUSED)
    assert states == ["up", "up", "up", "up", "up", "up", "down"]


def test_a_down_instance_comes_back_only_after_rise_consecutive_passes(board: HealthBoard, clock: ManualClock) -> None:
    feed(board, clock, PASS, REFUSED, REFUSED, REFUSED)
    assert feed(board, clock, PASS, REFUSED, PASS, PASS) == ["down", "down", "down", "up"]


def test_transitions_say_when_and_why_an_instance_went_down(board: HealthBoard, clock: ManualClock) -> None:
    feed(board, clock, PASS, ProbeResult(False, "HTTP 503"), ProbeResult(False, "timeout after 1 s"), REFUSED)
    health = board.health(KEY)
    assert [(t.previous, t.state) for t in health.transitions] == [("unknown", "up"), ("up", "down")]
    assert health.transitions[-1].at == clock.now()
    assert health.down_reason == "3 failed probes: connection refused"
    assert health.since == clock.now()
    assert health.last_reason == "connection refused"


def test_only_the_most_recent_transitions_are_kept(clock: ManualClock) -> None:
    board = HealthBoard(clock, HealthSettings(fall=1, rise=1, keep_transitions=4))
    feed(board, clock, *[PASS, REFUSED] * 5)
    transitions = board.health(KEY).transitions
    assert len(transitions) == 4
    assert transitions[-1].state == "down" and transitions[-1].at == clock.now()


def test_instances_that_left_the_registry_are_forgotten(board: HealthBoard, clock: ManualClock) -> None:
    board.record("payments/p-1", PASS)
    board.record("payments/p-2", PASS)
    board.retain(["payments/p-2"])
    assert set(board.snapshot()) == {"payments/p-2"}


def test_a_hysteresis_below_one_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"health\.fall"):
        HealthSettings(fall=0)


# ---------------------------------------------------------------------------------------------
# The partition guard.


def instance(service: str, n: int) -> InstanceRecord:
    return InstanceRecord(service=service, instance_id=f"{service[0]}-{n}", address=f"http://127.0.0.1:{8100 + n}")


def listing(*records: InstanceRecord) -> dict[str, list[InstanceRecord]]:
    by_service: dict[str, list[InstanceRecord]] = {}
    for r in records:
        by_service.setdefault(r.service, []).append(r)
    return by_service


ALL = [instance("payments", 1), instance("payments", 2), instance("inventory", 1), instance("inventory", 2),
       instance("shipping", 1), instance("orders", 1)]


@pytest.fixture
def guard(clock: ManualClock) -> PartitionGuard:
    return PartitionGuard(clock, GuardSettings(threshold_percent=50, min_instances=3, window_seconds=3,
                                               hold_seconds=60))


def keys(view_instances: dict) -> set[str]:
    return {r.key for records in view_instances.values() for r in records}


def test_a_few_instances_leaving_are_believed(guard: PartitionGuard, clock: ManualClock) -> None:
    guard.observe(listing(*ALL))
    clock.advance(1)
    view = guard.observe(listing(*ALL[1:]))
    assert not view.holding
    assert keys(dict(view.instances)) == {r.key for r in ALL[1:]}


def test_most_instances_vanishing_in_one_poll_keeps_the_last_known_list_visibly(
        guard: PartitionGuard, clock: ManualClock) -> None:
    guard.observe(listing(*ALL))
    clock.advance(1)
    view = guard.observe(listing(*ALL[:2]))
    assert view.holding
    assert keys(dict(view.instances)) == {r.key for r in ALL}
    assert view.since == clock.now()
    assert "4 of 6 instances vanished" in view.reason and "inventory/i-1" in view.reason


def test_instances_vanishing_one_by_one_within_the_window_count_together(
        guard: PartitionGuard, clock: ManualClock) -> None:
    guard.observe(listing(*ALL))
    holding = []
    for n in range(1, 5):  # one expiry every half second, each its own watch event
        clock.advance(0.5)
        holding.append(guard.observe(listing(*ALL[n:])).holding)
    assert holding == [False, False, False, True]


def test_instances_vanishing_slower_than_the_window_are_believed(guard: PartitionGuard, clock: ManualClock) -> None:
    guard.observe(listing(*ALL))
    for n in range(1, 5):
        clock.advance(4)
        view = guard.observe(listing(*ALL[n:]))
    assert not view.holding
    assert keys(dict(view.instances)) == {r.key for r in ALL[4:]}


def test_the_hold_ends_when_the_instances_are_back(guard: PartitionGuard, clock: ManualClock) -> None:
    guard.observe(listing(*ALL))
    clock.advance(1)
    guard.observe(listing(*ALL[:2]))
    clock.advance(5)
    assert guard.observe(listing(*ALL[:2])).holding
    view = guard.observe(listing(*ALL[:4]))  # half of them listed again: no longer "most vanished"
    assert not view.holding
    assert keys(dict(view.instances)) == {r.key for r in ALL[:4]}
    assert "back (2 of 4)" in view.reason


def test_the_hold_ends_after_its_timeout_and_the_loss_is_believed(guard: PartitionGuard, clock: ManualClock) -> None:
    guard.observe(listing(*ALL))
    clock.advance(1)
    guard.observe(listing(*ALL[:2]))
    clock.advance(59)
    assert guard.observe(listing(*ALL[:2])).holding
    clock.advance(1)
    view = guard.observe(listing(*ALL[:2]))
    assert not view.holding
    assert keys(dict(view.instances)) == {r.key for r in ALL[:2]}
    assert "stayed away for 60 s" in view.reason


def test_a_new_instance_joins_while_holding(guard: PartitionGuard, clock: ManualClock) -> None:
    guard.observe(listing(*ALL))
    clock.advance(1)
    guard.observe(listing(*ALL[:2]))
    newcomer = instance("payments", 7)
    view = guard.observe(listing(*ALL[:2], newcomer))
    assert view.holding
    assert newcomer.key in keys(dict(view.instances))


def test_small_systems_are_never_held(guard: PartitionGuard, clock: ManualClock) -> None:
    guard.observe(listing(*ALL[:2]))
    clock.advance(1)
    view = guard.observe(listing())
    assert not view.holding and dict(view.instances) == {}


def test_an_unreachable_registry_keeps_the_last_known_list_until_it_answers(
        guard: PartitionGuard, clock: ManualClock) -> None:
    guard.observe(listing(*ALL))
    clock.advance(1)
    view = guard.unreachable("etcd at http://127.0.0.1:2379 is unavailable: connection refused")
    assert view.holding and "connection refused" in view.reason
    clock.advance(600)  # no time limit: there is nothing newer to believe
    assert guard.view().holding
    view = guard.observe(listing(*ALL[:5]))
    assert not view.holding
    assert keys(dict(view.instances)) == {r.key for r in ALL[:5]}
    assert "answers again" in view.reason


def test_a_registry_that_answers_again_with_most_instances_gone_is_held(
        guard: PartitionGuard, clock: ManualClock) -> None:
    guard.observe(listing(*ALL))
    guard.unreachable("timeout")
    clock.advance(1)
    view = guard.observe(listing(*ALL[:1]))
    assert view.holding and "5 of 6" in view.reason
    assert keys(dict(view.instances)) == {r.key for r in ALL}
