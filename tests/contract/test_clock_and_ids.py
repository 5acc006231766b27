"""Contracts of the Clock and IdGenerator ports, on every adapter registered for them."""

from __future__ import annotations

import threading

import pytest

import bootstrap

PORT = ("clock", "ids")
CONFIG = bootstrap.load_config(env={})


@pytest.mark.parametrize("name", sorted(bootstrap.CLOCK_ADAPTERS))
def test_a_clock_is_timezone_aware_and_never_goes_backwards(name: str) -> None:
    clock = bootstrap.CLOCK_ADAPTERS[name](CONFIG, None)
    readings = [clock.now() for _ in range(1000)]
    assert all(r.utcoffset() is not None and r.utcoffset().total_seconds() == 0 for r in readings)
    assert readings == sorted(readings)


@pytest.mark.parametrize("name", sorted(bootstrap.ID_ADAPTERS))
def test_ids_are_unique_and_sort_in_creation_order_across_threads(name: str) -> None:
    ids = bootstrap.ID_ADAPTERS[name](CONFIG, None)
    made: list[list[str]] = [[] for _ in range(4)]

    def make(bucket: list[str]) -> None:
        bucket.extend(ids.new_id() for _ in range(2000))

    threads = [threading.Thread(target=make, args=(b,)) for b in made]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    everything = [i for bucket in made for i in bucket]
    assert len(set(everything)) == 8000 and all(everything)
    for bucket in made:
        assert bucket == sorted(bucket)
