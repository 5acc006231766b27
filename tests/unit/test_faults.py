"""Fault injection's core: validated settings, off unless enabled, exact shares, changes on the feed."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from adapters.outbound.memory.feed import RingBufferFeed
from core.kernel.errors import DomainError, InvalidFields, ValidationError
from core.kernel.feed import FeedKind
from core.runtime.faults import NO_FAULT, FaultDecision, FaultInjector, FaultSettings

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def injector(draws: list[float] | None = None, *, enabled: bool = True,
             feed: RingBufferFeed | None = None) -> FaultInjector:
    source = itertools.cycle(draws or [0.0])
    return FaultInjector(enabled, lambda: next(source), feed, lambda: NOW)


@pytest.mark.parametrize(("field", "value"), [
    ("error_rate", 1.5), ("error_rate", -0.1), ("timeout_rate", float("nan")), ("drop_reply_rate", True),
    ("latency", -1), ("duplicate_reply_rate", "0.5"),
])
def test_a_bad_setting_is_refused_naming_its_field(field, value) -> None:
    with pytest.raises(ValidationError) as refused:
        FaultSettings(**{field: value})
    assert refused.value.field == field


def test_every_bad_setting_is_named_at_once() -> None:
    with pytest.raises(InvalidFields) as refused:
        FaultSettings(error_rate=2, latency=-1)
    assert [e.field for e in refused.value.errors] == ["error_rate", "latency"]


def test_rates_are_shares_of_calls_and_may_not_add_up_to_more_than_all_calls() -> None:
    with pytest.raises(ValidationError, match="add up to at most 1"):
        FaultSettings(error_rate=0.6, timeout_rate=0.5)
    FaultSettings(error_rate=0.5, timeout_rate=0.5)


def test_settings_round_trip_through_json_and_unknown_keys_are_named() -> None:
    settings = FaultSettings(error_rate=0.5, latency=2.0)
    assert FaultSettings.from_json(settings.to_json()) == settings
    with pytest.raises(ValidationError, match="error_rat"):
        FaultSettings.from_json({"error_rat": 0.5})


def test_setting_faults_is_refused_unless_enabled_and_says_how_to_enable() -> None:
    faults = injector(enabled=False)
    with pytest.raises(DomainError, match=r"fault injection is off; set faults.enabled = true"):
        faults.set("payments", FaultSettings(error_rate=1))
    assert faults.decide("payments") == NO_FAULT


def test_a_service_without_settings_gets_no_fault() -> None:
    faults = injector()
    faults.set("payments", FaultSettings(error_rate=1))
    assert faults.decide("inventory") == NO_FAULT
    assert faults.get("inventory").is_off


def test_each_share_is_exact_over_a_uniform_spread_of_draws() -> None:
    draws = [i / 64 for i in range(64)]  # binary fractions: the shares' bounds are exact
    faults = injector(draws)
    faults.set("payments", FaultSettings(timeout_rate=0.125, error_rate=0.25, drop_reply_rate=0.375,
                                         duplicate_reply_rate=0.125, latency=0.25))
    decisions = [faults.decide("payments") for _ in draws]
    assert sum(d.timeout for d in decisions) == 8
    assert sum(d.fail for d in decisions) == 16
    assert sum(d.drop_reply for d in decisions) == 24
    assert sum(d.duplicate_reply for d in decisions) == 8
    assert all(d.delay == 0.25 for d in decisions)
    assert all(sum((d.fail, d.timeout, d.drop_reply, d.duplicate_reply)) <= 1 for d in decisions)


def test_full_error_rate_fails_every_call_and_clearing_stops_it() -> None:
    faults = injector([0.0, 0.999])
    faults.set("payments", FaultSettings(error_rate=1))
    assert faults.decide("payments").fail and faults.decide("payments").fail
    faults.set("payments", FaultSettings.off())
    assert faults.decide("payments") == FaultDecision()
    assert faults.all() == {}


def test_changes_are_reported_on_the_feed() -> None:
    feed = RingBufferFeed()
    faults = injector(feed=feed)
    faults.set("payments", FaultSettings(error_rate=0.5, latency=2))
    faults.set("payments", FaultSettings.off())
    events = feed.recent()
    assert [e.kind for e in events] == [FeedKind.FAULT, FeedKind.FAULT]
    assert events[0].text == "faults for payments: 50% errors, +2 s latency"
    assert events[0].data["settings"]["error_rate"] == 0.5
    assert events[1].text == "faults for payments cleared"
    assert events[1].data["before"]["latency"] == 2
