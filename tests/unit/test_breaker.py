"""The circuit breaker's rules, one behaviour per test, on virtual time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.outbound.memory.feed import RingBufferFeed
from core.kernel.errors import InvalidFields, NotFound, Unavailable, ValidationError
from core.kernel.feed import FeedKind
from core.runtime.breaker import (
    BreakerBoard,
    BreakerConfig,
    BreakerSnapshot,
    BreakerState,
    CircuitBreaker,
    CircuitOpen,
    counts_unless_refused,
)
from tests.unit.breaker_fixtures import ServiceError, VirtualClock, fail, make_breaker, succeed

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


class BadRequest(ServiceError):
    """A 4xx: the service answered; the request was wrong."""


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


# -- configuration ---------------------------------------------------------------------------

@pytest.mark.parametrize(("field", "value"), [
    ("window", "sliding"), ("window_size", 0), ("window_size", 2.5), ("minimum_calls", 0),
    ("failure_rate_threshold", 0), ("failure_rate_threshold", 1.5), ("slow_call_rate_threshold", True),
    ("slow_call_duration", -1), ("wait_in_open", 0), ("wait_multiplier", 0.5), ("probe_timeout", float("inf")),
])
def test_a_bad_config_value_is_refused_naming_its_field(field, value) -> None:
    with pytest.raises(ValidationError) as refused:
        BreakerConfig(**{field: value})
    assert refused.value.field == field


def test_every_bad_config_value_is_named_at_once() -> None:
    with pytest.raises(InvalidFields) as refused:
        BreakerConfig(window="sliding", wait_in_open=-1, probe_timeout=0)
    assert [e.field for e in refused.value.errors] == ["window", "probe_timeout", "wait_in_open"]


def test_a_minimum_above_a_count_window_is_refused_as_it_could_never_trip() -> None:
    with pytest.raises(ValidationError, match="could never trip"):
        BreakerConfig(window_size=5, minimum_calls=6)
    BreakerConfig(window="time", window_size=5, minimum_calls=60)


def test_the_longest_wait_may_not_be_shorter_than_the_first() -> None:
    with pytest.raises(ValidationError) as refused:
        BreakerConfig(wait_in_open=10, max_wait_in_open=5)
    assert refused.value.field == "max_wait_in_open"


def test_config_round_trips_through_json_and_unknown_keys_are_named() -> None:
    config = BreakerConfig(window="time", window_size=30, minimum_calls=5)
    assert BreakerConfig.from_json(config.to_json()) == config
    with pytest.raises(ValidationError, match="windw"):
        BreakerConfig.from_json({"windw": "time"})


# -- tripping ---------------------------------------------------------------------------------

def test_failures_below_the_minimum_number_of_calls_do_not_trip(clock) -> None:
    breaker = make_breaker(clock)
    for _ in range(3):
        fail(breaker, clock)
    assert breaker.snapshot().state == CLOSED
    assert breaker.snapshot().failure_rate == 1.0


def test_a_failure_rate_reaching_the_threshold_opens_the_breaker(clock) -> None:
    breaker = make_breaker(clock)
    for _ in range(3):
        succeed(breaker, clock)
    fail(breaker, clock)
    fail(breaker, clock)
    assert breaker.snapshot().state == CLOSED  # 2 of 5: 40%
    fail(breaker, clock)
    snapshot = breaker.snapshot()
    assert snapshot.state == OPEN and snapshot.failure_rate == 0.5
    assert "50% failures in the last 6 calls (threshold 50%)" in snapshot.reason


def test_an_open_breaker_rejects_with_its_name_state_and_time_to_retry(clock) -> None:
    breaker = make_breaker(clock)
    for _ in range(4):
        fail(breaker, clock)
    clock.advance(2)
    with pytest.raises(CircuitOpen) as rejected:
        breaker.acquire()
    assert isinstance(rejected.value, Unavailable)
    assert (rejected.value.name, rejected.value.state, rejected.value.retry_after) == ("payments", OPEN, 3.0)
    assert str(rejected.value).startswith("payments is unavailable: circuit breaker open (100% failures")


def test_a_count_window_judges_only_its_newest_calls(clock) -> None:
    breaker = make_breaker(clock, window_size=4, minimum_calls=4)
    fail(breaker, clock)
    for _ in range(4):
        succeed(breaker, clock)
    fail(breaker, clock)
    snapshot = breaker.snapshot()
    assert (snapshot.calls, snapshot.failure_rate, snapshot.state) == (4, 0.25, CLOSED)


def test_a_time_window_forgets_calls_older_than_its_seconds(clock) -> None:
    breaker = make_breaker(clock, window="time", window_size=10, minimum_calls=4)
    for _ in range(3):
        fail(breaker, clock)
    clock.advance(10)
    fail(breaker, clock)
    snapshot = breaker.snapshot()
    assert (snapshot.calls, snapshot.state) == (1, CLOSED)


def test_a_time_window_opens_when_failures_within_it_reach_the_threshold(clock) -> None:
    breaker = make_breaker(clock, window="time", window_size=10, minimum_calls=4)
    for _ in range(4):
        fail(breaker, clock)
        clock.advance(2)
    assert breaker.snapshot().state == OPEN
    assert "4 calls in the last 10 s" in breaker.snapshot().reason


def test_a_time_window_trips_when_good_calls_age_out_leaving_the_bad(clock) -> None:
    breaker = make_breaker(clock, window="time", window_size=10, minimum_calls=4, failure_rate_threshold=0.6)
    for _ in range(4):
        succeed(breaker, clock)
    clock.advance(5)
    for _ in range(4):
        fail(breaker, clock)
    assert breaker.snapshot().state == CLOSED  # 4 of 8
    clock.advance(5)  # the successes leave the window
    assert breaker.snapshot().state == OPEN


def test_slow_calls_reaching_the_slow_call_rate_open_the_breaker(clock) -> None:
    breaker = make_breaker(clock, slow_call_rate_threshold=0.5)
    succeed(breaker, clock)
    succeed(breaker, clock)
    succeed(breaker, clock, took=1.5)
    assert breaker.snapshot().slow_call_rate == pytest.approx(1 / 3)
    succeed(breaker, clock, took=1.5)
    snapshot = breaker.snapshot()
    assert snapshot.state == OPEN and snapshot.slow_call_rate == 0.5
    assert "slow" in snapshot.reason


def test_calls_hanging_in_flight_count_as_slow_before_they_return(clock) -> None:
    breaker = make_breaker(clock, minimum_calls=4, slow_call_rate_threshold=0.5)
    for _ in range(2):
        succeed(breaker, clock)
    hanging = [breaker.acquire() for _ in range(2)]
    clock.advance(0.5)
    assert breaker.snapshot().state == CLOSED  # in flight, not yet slow
    clock.advance(0.6)
    snapshot = breaker.snapshot()
    assert snapshot.state == OPEN and snapshot.in_flight == 2 and snapshot.slow_call_rate == 0.5
    assert "2 slow in flight" in snapshot.reason
    with pytest.raises(CircuitOpen):
        breaker.acquire()
    for permit in hanging:
        permit.failure(TimeoutError("read timeout"))


# -- open, half-open, probes ------------------------------------------------------------------

def tripped(clock: VirtualClock, **config) -> CircuitBreaker:
    breaker = make_breaker(clock, **config)
    for _ in range(4):
        fail(breaker, clock)
    return breaker


def test_after_the_wait_a_single_probe_that_succeeds_closes_it_with_a_clear_window(clock) -> None:
    breaker = tripped(clock)
    clock.advance(5)
    assert breaker.snapshot().state == HALF_OPEN
    probe = breaker.acquire()
    with pytest.raises(CircuitOpen, match="a probe call is in flight"):
        breaker.acquire()
    probe.success()
    snapshot = breaker.snapshot()
    assert (snapshot.state, snapshot.calls, snapshot.failure_rate) == (CLOSED, 0, 0.0)
    succeed(breaker, clock)


def test_each_failed_probe_multiplies_the_wait_up_to_the_maximum(clock) -> None:
    breaker = tripped(clock, wait_in_open=5, wait_multiplier=2, max_wait_in_open=12)
    waits = []
    for _ in range(4):
        opened = clock.seconds
        while breaker.snapshot().state == OPEN:
            clock.advance(0.5)
        waits.append(clock.seconds - opened)
        fail(breaker, clock)
    assert waits == [5, 10, 12, 12]


def test_a_slow_probe_reopens_it(clock) -> None:
    breaker = tripped(clock)
    clock.advance(5)
    succeed(breaker, clock, took=1.5)
    snapshot = breaker.snapshot()
    assert snapshot.state == OPEN and snapshot.reason.startswith("probe took 1.50 s")


def test_a_successful_probe_resets_the_wait_to_the_first(clock) -> None:
    breaker = tripped(clock)
    clock.advance(5)
    fail(breaker, clock)  # wait now 10
    clock.advance(10)
    succeed(breaker, clock)
    for _ in range(4):
        fail(breaker, clock)
    clock.advance(5)
    assert breaker.snapshot().state == HALF_OPEN


def test_a_released_probe_lets_the_next_caller_probe(clock) -> None:
    breaker = tripped(clock)
    clock.advance(5)
    breaker.acquire().release()
    probe = breaker.acquire()
    probe.success()
    assert breaker.snapshot().state == CLOSED


def test_an_expired_probe_lease_passes_to_the_next_caller_and_the_late_probe_counts_for_nothing(clock) -> None:
    breaker = tripped(clock)
    clock.advance(5)
    late = breaker.acquire()
    clock.advance(3)
    second = breaker.acquire()
    late.failure(ServiceError("finally failed"))
    assert breaker.snapshot().state == HALF_OPEN
    second.success()
    assert breaker.snapshot().state == CLOSED


def test_calls_started_before_the_window_was_cleared_stay_out_of_the_new_window(clock) -> None:
    breaker = make_breaker(clock)
    old = breaker.acquire()
    for _ in range(4):
        fail(breaker, clock)
    breaker.reset("service fixed")
    old.failure(ServiceError("late"))
    snapshot = breaker.snapshot()
    assert (snapshot.calls, snapshot.in_flight, snapshot.failures) == (0, 0, 5)


# -- classifier, fallback, permits -------------------------------------------------------------

def test_an_error_the_classifier_does_not_count_passes_through_uncounted(clock) -> None:
    def counts(error: BaseException) -> bool:
        return not isinstance(error, BadRequest)

    breaker = CircuitBreaker("payments", BreakerConfig(window_size=4, minimum_calls=4), monotonic=clock.monotonic,
                             now=clock.now, counts=counts)

    def bad_request() -> None:
        raise BadRequest("422: quantity must be positive")

    for _ in range(6):
        with pytest.raises(BadRequest):
            breaker.call(bad_request, fallback=lambda error: "fallback")
    snapshot = breaker.snapshot()
    assert (snapshot.state, snapshot.calls, snapshot.in_flight) == (CLOSED, 0, 0)


def test_the_default_classifier_does_not_count_domain_refusals() -> None:
    assert not counts_unless_refused(ValidationError("quantity", "must be positive"))
    assert counts_unless_refused(ServiceError("503"))
    assert counts_unless_refused(TimeoutError())


def test_the_fallback_answers_for_a_failed_call_and_for_a_rejected_one(clock) -> None:
    breaker = make_breaker(clock)
    answers = []

    def broken() -> str:
        raise ServiceError("503")

    for _ in range(5):
        answers.append(breaker.call(broken, fallback=lambda error: type(error).__name__))
    assert answers == ["ServiceError"] * 4 + ["CircuitOpen"]
    assert breaker.call(lambda: "live", fallback=lambda error: "cached") == "cached"


def test_call_passes_arguments_and_returns_the_result(clock) -> None:
    breaker = make_breaker(clock)
    assert breaker.call(lambda a, b=0: a + b, 2, b=3) == 5
    assert breaker.snapshot().recent == ("ok",)


def test_a_permit_used_as_a_context_manager_records_by_itself(clock) -> None:
    breaker = make_breaker(clock)
    with breaker.acquire():
        pass
    with pytest.raises(ServiceError), breaker.acquire():
        raise ServiceError("503")
    with pytest.raises(KeyboardInterrupt), breaker.acquire():
        raise KeyboardInterrupt
    snapshot = breaker.snapshot()
    assert (snapshot.recent, snapshot.in_flight, snapshot.successes, snapshot.failures) == (("ok", "fail"), 0, 1, 1)


def test_recording_a_permit_twice_counts_once(clock) -> None:
    breaker = make_breaker(clock)
    permit = breaker.acquire()
    permit.success()
    permit.failure(ServiceError("late"))
    assert breaker.snapshot().recent == ("ok",)


# -- operators ---------------------------------------------------------------------------------

def test_forced_open_stays_open_through_time_until_an_operator_resets_it(clock) -> None:
    breaker = make_breaker(clock)
    succeed(breaker, clock)
    breaker.force_open("payments maintenance 14:00-14:30")
    for _ in range(3):
        clock.advance(60)
        with pytest.raises(CircuitOpen) as rejected:
            breaker.acquire()
        assert rejected.value.retry_after is None
    snapshot = breaker.snapshot()
    assert (snapshot.state, snapshot.would_be, snapshot.reason) == (
        BreakerState.FORCED_OPEN, CLOSED, "payments maintenance 14:00-14:30")
    assert snapshot.describe() == "forced-open, would be closed: 0% failures in 1 calls"
    breaker.reset("maintenance over")
    succeed(breaker, clock)
    assert breaker.snapshot().state == CLOSED


def test_forced_open_shows_the_open_breaker_it_would_be_moving_on_to_half_open(clock) -> None:
    breaker = tripped(clock)
    breaker.force_open("hold it")
    assert breaker.snapshot().would_be == OPEN
    clock.advance(5)
    assert breaker.snapshot().would_be == HALF_OPEN
    with pytest.raises(CircuitOpen):
        breaker.acquire()


def test_forced_closed_never_rejects_yet_shows_it_would_be_open(clock) -> None:
    breaker = make_breaker(clock)
    breaker.force_closed("the fallback is worse than the errors")
    for _ in range(10):
        fail(breaker, clock)
    snapshot = breaker.snapshot()
    assert (snapshot.state, snapshot.would_be, snapshot.failure_rate) == (BreakerState.FORCED_CLOSED, OPEN, 1.0)
    assert snapshot.describe().startswith("forced-closed, would be open: 100% failures")
    for _ in range(10):
        succeed(breaker, clock)
    assert breaker.snapshot().would_be == CLOSED


def test_metrics_only_measures_and_never_rejects(clock) -> None:
    breaker = tripped(clock)
    breaker.metrics_only("rolling the breaker out")
    for _ in range(20):
        fail(breaker, clock)
    snapshot = breaker.snapshot()
    assert (snapshot.state, snapshot.would_be, snapshot.calls) == (BreakerState.METRICS_ONLY, OPEN, 10)


def test_forcing_open_after_measuring_starts_from_what_the_measurements_say(clock) -> None:
    breaker = make_breaker(clock)
    breaker.force_closed("testing")
    for _ in range(4):
        fail(breaker, clock)
    breaker.force_open("stop it")
    assert breaker.snapshot().would_be == OPEN
    clock.advance(5)
    assert breaker.snapshot().would_be == HALF_OPEN


def test_an_operator_must_give_a_reason(clock) -> None:
    breaker = make_breaker(clock)
    with pytest.raises(ValidationError) as refused:
        breaker.force_open("  ")
    assert refused.value.field == "reason"
    assert breaker.snapshot().state == CLOSED


def test_reset_closes_an_open_breaker_with_a_clear_window(clock) -> None:
    breaker = tripped(clock)
    breaker.reset("deployed the fix")
    snapshot = breaker.snapshot()
    assert (snapshot.state, snapshot.calls, snapshot.reason) == (CLOSED, 0, "reset: deployed the fix")


def test_reconfigure_keeps_the_state_and_the_newest_outcomes(clock) -> None:
    breaker = make_breaker(clock, failure_rate_threshold=0.9)
    for _ in range(3):
        fail(breaker, clock)
    for _ in range(5):
        succeed(breaker, clock)
    breaker.reconfigure(BreakerConfig(window_size=4, minimum_calls=4, failure_rate_threshold=0.9))
    snapshot = breaker.snapshot()
    assert (snapshot.state, snapshot.calls, snapshot.failure_rate) == (CLOSED, 4, 0.0)
    assert snapshot.config.window_size == 4


def test_reconfigure_of_an_open_breaker_keeps_it_open_and_applies_the_new_wait(clock) -> None:
    breaker = tripped(clock)
    breaker.reconfigure(BreakerConfig.from_json({**breaker.config.to_json(), "wait_in_open": 20.0}))
    clock.advance(10)
    assert breaker.snapshot().state == OPEN
    clock.advance(10)
    assert breaker.snapshot().state == HALF_OPEN


def test_lowering_a_threshold_trips_at_once_on_the_window_kept(clock) -> None:
    breaker = make_breaker(clock)
    for _ in range(3):
        succeed(breaker, clock)
    fail(breaker, clock)
    breaker.reconfigure(BreakerConfig.from_json({**breaker.config.to_json(), "failure_rate_threshold": 0.25}))
    assert breaker.snapshot().state == OPEN


# -- what it shows and reports -------------------------------------------------------------------

def test_the_snapshot_shows_recent_outcomes_next_probe_and_round_trips_json(clock) -> None:
    breaker = make_breaker(clock)
    succeed(breaker, clock)
    succeed(breaker, clock, took=2)
    fail(breaker, clock)
    fail(breaker, clock)
    opened_at = clock.now()
    with pytest.raises(CircuitOpen):
        breaker.acquire()
    snapshot = breaker.snapshot()
    assert snapshot.recent == ("ok", "slow", "fail", "fail", "rejected")
    assert snapshot.opened_at == opened_at
    assert snapshot.next_probe_at == opened_at + timedelta(seconds=5)
    assert BreakerSnapshot.from_json(snapshot.to_json()) == snapshot


def test_transitions_are_reported_on_the_feed_with_their_reasons(clock) -> None:
    feed = RingBufferFeed()
    breaker = make_breaker(clock, feed=feed)
    for _ in range(4):
        fail(breaker, clock)
    clock.advance(5)
    succeed(breaker, clock)
    breaker.force_open("maintenance")
    events = feed.recent()
    assert {e.kind for e in events} == {FeedKind.BREAKER}
    assert [(e.data["from"], e.data["to"]) for e in events] == [
        ("closed", "open"), ("open", "half-open"), ("half-open", "closed"), ("closed", "forced-open")]
    assert events[0].text.startswith("breaker payments: closed -> open: 100% failures in the last 4 calls")
    assert events[0].data["name"] == "payments" and events[0].data["failure_rate"] == 1.0
    assert events[2].data["reason"] == "probe succeeded"
    assert events[3].data["reason"] == "operator: maintenance"


def test_rejected_calls_reach_the_feed_at_most_once_a_second_with_their_count(clock) -> None:
    feed = RingBufferFeed()
    breaker = make_breaker(clock, feed=feed, wait_in_open=30)
    for _ in range(4):
        fail(breaker, clock)
    for _ in range(25):
        with pytest.raises(CircuitOpen):
            breaker.acquire()
        clock.advance(0.1)
    rejections = [e for e in feed.recent() if "rejected" in e.data]
    assert [e.data["rejected"] for e in rejections] == [1, 10, 10]
    assert breaker.snapshot().rejected == 25


def test_would_be_changes_under_an_operator_state_are_reported(clock) -> None:
    feed = RingBufferFeed()
    breaker = make_breaker(clock, feed=feed)
    breaker.metrics_only("watching")
    for _ in range(4):
        fail(breaker, clock)
    last = feed.recent()[-1]
    assert last.text.startswith("breaker payments: metrics-only, would be open (was closed): 100% failures")
    assert last.data["forced"] == "metrics-only"


def test_a_feed_subscriber_may_read_the_breaker_while_it_reports(clock) -> None:
    feed = RingBufferFeed()
    breaker = make_breaker(clock, feed=feed)
    seen = []
    feed.subscribe(lambda event: seen.append(breaker.snapshot().state))
    for _ in range(4):
        fail(breaker, clock)
    assert seen == [OPEN]


# -- the board ---------------------------------------------------------------------------------

def test_the_board_makes_each_breaker_once_and_names_a_missing_one(clock) -> None:
    board = BreakerBoard(monotonic=clock.monotonic, now=clock.now)
    first = board.ensure("payments", BreakerConfig())
    assert board.ensure("payments", BreakerConfig(window_size=50)) is first
    board.ensure("inventory", BreakerConfig())
    assert [b.name for b in board.all()] == ["inventory", "payments"]
    with pytest.raises(NotFound, match="circuit breaker 'shipping' not found"):
        board.get("shipping")


def test_forced_states_survive_a_restart_through_forced_and_restore(clock) -> None:
    board = BreakerBoard(monotonic=clock.monotonic, now=clock.now)
    board.ensure("payments", BreakerConfig()).force_open("maintenance")
    board.ensure("inventory", BreakerConfig()).metrics_only("rollout")
    board.ensure("shipping", BreakerConfig())
    kept = board.forced()
    assert kept == {"payments": ("forced-open", "maintenance"), "inventory": ("metrics-only", "rollout")}

    restarted = BreakerBoard(monotonic=clock.monotonic, now=clock.now)
    restarted.ensure("payments", BreakerConfig())
    restarted.restore(kept)
    assert restarted.get("payments").snapshot().state == BreakerState.FORCED_OPEN
    assert restarted.forced() == kept  # inventory waits for its breaker
    assert restarted.ensure("inventory", BreakerConfig()).snapshot().state == BreakerState.METRICS_ONLY


def test_restoring_an_unknown_state_is_refused(clock) -> None:
    board = BreakerBoard(monotonic=clock.monotonic, now=clock.now)
    with pytest.raises(ValidationError, match="'open' for breaker 'payments'"):
        board.restore({"payments": ("open", "x")})
