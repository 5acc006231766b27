"""Choosing an instance: round robin takes turns; least outstanding sends to the instance with
the fewest requests in flight and shares evenly among idle ones."""

from __future__ import annotations

from collections import Counter

import pytest

from adapters.inbound.gateway.balancer import Balancer
from core.kernel.errors import ValidationError

KEYS = ["p/a", "p/b", "p/c"]


def test_round_robin_takes_turns_over_the_candidates() -> None:
    balancer = Balancer("round-robin")
    assert [balancer.choose("p", KEYS) for _ in range(6)] == KEYS * 2


def test_least_outstanding_avoids_the_busy_instance() -> None:
    balancer = Balancer("least-outstanding")
    for _ in range(3):
        balancer.started("p/a")
    balancer.started("p/b")
    assert {balancer.choose("p", KEYS) for _ in range(5)} == {"p/c"}


def test_least_outstanding_shares_evenly_among_idle_instances() -> None:
    balancer = Balancer("least-outstanding")
    assert Counter(balancer.choose("p", KEYS) for _ in range(30)) == {"p/a": 10, "p/b": 10, "p/c": 10}


def test_a_finished_request_frees_its_instance() -> None:
    balancer = Balancer("least-outstanding")
    balancer.started("p/a")
    balancer.finished("p/a")
    assert balancer.outstanding("p/a") == 0
    balancer.started("p/b")
    assert balancer.choose("p", ["p/a", "p/b"]) == "p/a"


def test_no_candidates_gives_none() -> None:
    assert Balancer().choose("p", []) is None


def test_an_unknown_mode_is_refused_naming_the_setting() -> None:
    with pytest.raises(ValidationError, match=r"gateway\.balance"):
        Balancer("random")
