"""Order and event ids: UUIDv7 that sort by creation and never repeat, from any thread."""

from __future__ import annotations

import threading
import time
import uuid

from adapters.outbound.system.ids import Uuid7Ids


def test_ids_are_version_7_uuids_carrying_the_time_they_were_made() -> None:
    before = time.time_ns() // 1_000_000
    made = uuid.UUID(Uuid7Ids().new_id())
    after = time.time_ns() // 1_000_000
    assert made.version == 7 and made.variant == uuid.RFC_4122
    assert before <= made.int >> 80 <= after


def test_ids_sort_in_the_order_they_were_made_past_many_blocks_of_random_bits() -> None:
    ids = Uuid7Ids()
    made = [ids.new_id() for _ in range(20_000)]  # ~40 refills of the random block
    assert made == sorted(made) and len(set(made)) == len(made)


def test_ids_made_in_the_same_millisecond_by_two_generators_differ() -> None:
    first, second = Uuid7Ids(), Uuid7Ids()
    pairs = [(first.new_id(), second.new_id()) for _ in range(1000)]
    assert all(a != b for a, b in pairs)
    assert len({a[24:] for a, _ in pairs} | {b[24:] for _, b in pairs}) == 2000, "the random tails repeat"


def test_threads_sharing_one_generator_never_get_the_same_id() -> None:
    ids = Uuid7Ids()
    made: list[list[str]] = [[] for _ in range(8)]
    threads = [threading.Thread(target=lambda mine: mine.extend(ids.new_id() for _ in range(5000)), args=(made[n],))
               for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    every = [made_id for mine in made for made_id in mine]
    assert len(every) == len(set(every)) == 40_000
