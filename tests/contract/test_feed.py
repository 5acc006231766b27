"""Contract of the EventFeed port, on every adapter registered for it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

import bootstrap
from core.kernel.feed import FeedEvent, FeedKind
from ports.system import EventFeed

PORT = "feed"


@pytest.fixture(params=sorted(bootstrap.FEED_ADAPTERS))
def feed(request: pytest.FixtureRequest) -> EventFeed:
    config = bootstrap.load_config(env={}, overrides={"feed.capacity": 50})
    from adapters.outbound.memory.feed import RingBufferFeed

    built: EventFeed = bootstrap.FEED_ADAPTERS[request.param](config, RingBufferFeed(config["feed.capacity"]))
    return built


def _event(n: int) -> FeedEvent:
    return FeedEvent(kind=FeedKind.COMMAND, text=f"e{n}", at=datetime(2026, 1, 1, tzinfo=UTC), data={"n": n})


def test_publish_numbers_events_and_recent_reads_after_a_seq(feed: EventFeed) -> None:
    stamped = [feed.publish(_event(n)) for n in range(5)]
    assert [e.seq for e in stamped] == [1, 2, 3, 4, 5]
    assert [e.text for e in feed.recent(after_seq=3)] == ["e3", "e4"]
    assert [e.text for e in feed.recent(limit=2)] == ["e0", "e1"]


def test_only_the_newest_capacity_events_are_kept(feed: EventFeed) -> None:
    for n in range(feed.capacity + 25):
        feed.publish(_event(n))
    kept = feed.recent(limit=10_000)
    assert len(kept) == feed.capacity and kept[-1].text == f"e{feed.capacity + 24}"


def test_subscribers_get_each_event_until_they_unsubscribe(feed: EventFeed) -> None:
    got: list[int] = []
    unsubscribe = feed.subscribe(lambda e: got.append(e.seq))
    feed.publish(_event(1))
    unsubscribe()
    feed.publish(_event(2))
    assert got == [1]


def test_a_failing_subscriber_does_not_stop_publishing_or_others(feed: EventFeed) -> None:
    got: list[str] = []

    def broken(event: FeedEvent) -> None:
        raise RuntimeError("subscriber bug")

    feed.subscribe(broken)
    feed.subscribe(lambda e: got.append(e.text))
    assert feed.publish(_event(1)).seq == 1
    assert got == ["e1"]


def test_concurrent_publishers_get_gap_free_unique_seqs(feed: EventFeed) -> None:
    seqs: list[int] = []
    lock = threading.Lock()

    def publish() -> None:
        for n in range(500):
            seq = feed.publish(_event(n)).seq
            with lock:
                seqs.append(seq)

    threads = [threading.Thread(target=publish) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(seqs) == list(range(1, 2001))


def test_subscribers_hear_every_event_once_in_seq_order_whoever_publishes_it(feed: EventFeed) -> None:
    heard: list[int] = []
    feed.subscribe(lambda e: heard.append(e.seq))  # delivered under the feed's lock: in seq order

    def publish() -> None:
        for n in range(500):
            feed.publish(_event(n))

    threads = [threading.Thread(target=publish) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert heard == list(range(1, 2001))
