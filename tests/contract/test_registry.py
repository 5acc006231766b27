"""The ServiceRegistry contract (ports/registry.py) on every adapter: memory (virtual time),
static (a list from config) and etcd (a real server; its leases run on real time, so its expiry
tests wait a bounded few seconds).

The dynamic registries (memory, etcd) run the whole lease and watch contract; the static one
runs what it promises instead: its list is always live, a listed instance's registration is
accepted and changes nothing, an unlisted one is refused naming registry.static.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from adapters.outbound.registry.etcd import EtcdRegistry
from adapters.outbound.registry.memory import MemoryRegistry
from adapters.outbound.registry.static import StaticRegistry, parse_static
from core.kernel.errors import Unavailable, ValidationError
from ports.registry import InstanceRecord, RegistryChange, ServiceRegistry

PORT = "ServiceRegistry"
TTL = 2
# etcd checks lease expiry every 500 ms and its lease clock starts on grant: a 2 s lease is
# gone about 2.1-2.6 s after its last renewal here.
ETCD_EXPIRY_MARGIN = 1.5


class ManualClock:
    def __init__(self) -> None:
        self._now = datetime(2026, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)


@dataclass
class Changes:
    """What a watch callback received, with a wait for the next ones."""

    seen: list[RegistryChange] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def __call__(self, change: RegistryChange) -> None:
        with self.arrived:
            self.seen.append(change)
            self.arrived.notify_all()

    def kinds(self) -> list[tuple[str, str]]:
        with self.arrived:
            return [(c.kind, c.record.key) for c in self.seen]


@dataclass
class Harness:
    """One registry under test and how time passes for it."""

    registry: ServiceRegistry
    name: str
    clock: ManualClock | None = None

    def elapse(self, seconds: float) -> None:
        """Let `seconds` pass: virtual time for memory, real time for etcd."""
        if self.clock is not None:
            self.clock.advance(seconds)
            assert isinstance(self.registry, MemoryRegistry)
            self.registry.sweep()
        else:
            time.sleep(seconds)

    def eventually(self, condition: Callable[[], bool], timeout: float) -> float:
        """Seconds until `condition()` held; fails after `timeout`. Memory needs no wait: its
        changes are made (and watchers told) by the call that caused them."""
        started = time.monotonic()
        deadline = started + (0 if self.clock is not None else timeout)
        while not condition():
            assert time.monotonic() < deadline, f"{self.name}: not within {timeout} s"
            time.sleep(0.02)
        return time.monotonic() - started


def record(service: str = "payments", instance_id: str = "p-1", port: int = 8101,
           version: str = "1.0.0") -> InstanceRecord:
    return InstanceRecord(service=service, instance_id=instance_id, address=f"http://127.0.0.1:{port}",
                          version=version, pid=4242, started_at=datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC))


@pytest.fixture(params=["memory", pytest.param("etcd", marks=pytest.mark.etcd)])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "memory":
        clock = ManualClock()
        memory = MemoryRegistry(clock)
        yield Harness(memory, "memory", clock)
        memory.close()
        return
    server = request.getfixturevalue("etcd_server")
    etcd = EtcdRegistry(server.url, prefix=request.getfixturevalue("etcd_prefix"))
    yield Harness(etcd, "etcd")
    etcd.close()


def watched(registry: ServiceRegistry) -> tuple[Changes, Callable[[], None]]:
    changes = Changes()
    return changes, registry.watch(changes)


# ---------------------------------------------------------------------------------------------
# Registering and listing.


def test_a_registered_instance_is_listed_with_its_whole_record(harness: Harness) -> None:
    registration = harness.registry.register(record(), TTL)
    assert registration.record == record()
    assert registration.ttl_seconds >= TTL
    assert harness.registry.instances("payments") == [record()]


def test_instances_are_listed_per_service_sorted_by_id(harness: Harness) -> None:
    for r in (record(instance_id="p-2", port=8102), record(instance_id="p-1"), record("inventory", "i-1", 8201)):
        harness.registry.register(r, TTL)
    assert [r.instance_id for r in harness.registry.instances("payments")] == ["p-1", "p-2"]
    assert harness.registry.instances("inventory") == [record("inventory", "i-1", 8201)]
    assert harness.registry.instances("shipping") == []
    assert harness.registry.services() == ["inventory", "payments"]


def test_registering_the_same_instance_again_replaces_its_record(harness: Harness) -> None:
    harness.registry.register(record(version="1.0.0"), TTL)
    harness.registry.register(record(version="1.1.0", port=8109), TTL)
    assert harness.registry.instances("payments") == [record(version="1.1.0", port=8109)]


def test_a_lease_shorter_than_a_second_is_refused(harness: Harness) -> None:
    with pytest.raises(ValidationError, match="ttl_seconds"):
        harness.registry.register(record(), 0)


# ---------------------------------------------------------------------------------------------
# Leases.


def test_an_instance_whose_lease_is_not_kept_alive_is_gone_within_its_ttl(harness: Harness) -> None:
    registration = harness.registry.register(record(), TTL)
    harness.elapse(registration.ttl_seconds)
    waited = harness.eventually(lambda: harness.registry.instances("payments") == [], ETCD_EXPIRY_MARGIN)
    assert waited <= ETCD_EXPIRY_MARGIN
    assert harness.registry.services() == []


def test_keep_alive_keeps_an_instance_listed_past_its_ttl(harness: Harness) -> None:
    registration = harness.registry.register(record(), TTL)
    for _ in range(4):  # 4 s in all: twice the TTL
        harness.elapse(1.0)
        assert harness.registry.keep_alive(registration) is True
    assert harness.registry.instances("payments") == [record()]


def test_keep_alive_of_an_expired_lease_says_it_is_gone(harness: Harness) -> None:
    registration = harness.registry.register(record(), TTL)
    harness.elapse(registration.ttl_seconds)
    harness.eventually(lambda: harness.registry.instances("payments") == [], ETCD_EXPIRY_MARGIN)
    assert harness.registry.keep_alive(registration) is False
    assert harness.registry.instances("payments") == []


def test_deregister_removes_the_instance_at_once_and_twice_is_harmless(harness: Harness) -> None:
    registration = harness.registry.register(record(), TTL)
    other = harness.registry.register(record(instance_id="p-2", port=8102), TTL)
    harness.registry.deregister(registration)
    assert harness.registry.instances("payments") == [other.record]
    harness.registry.deregister(registration)
    assert harness.registry.keep_alive(registration) is False


def test_deregistering_an_old_registration_leaves_the_new_one(harness: Harness) -> None:
    old = harness.registry.register(record(version="1.0.0"), TTL)
    harness.registry.register(record(version="1.1.0"), TTL)
    harness.registry.deregister(old)
    assert harness.registry.instances("payments") == [record(version="1.1.0")]


# ---------------------------------------------------------------------------------------------
# Watching.


def test_a_watch_sees_an_instance_appear_and_vanish(harness: Harness) -> None:
    changes, stop = watched(harness.registry)
    registration = harness.registry.register(record(), TTL)
    harness.eventually(lambda: len(changes.kinds()) == 1, 1.0)
    harness.registry.deregister(registration)
    harness.eventually(lambda: len(changes.kinds()) == 2, 1.0)
    stop()
    assert changes.kinds() == [("up", "payments/p-1"), ("down", "payments/p-1")]
    assert changes.seen[0].record == record() and changes.seen[1].record == record()


def test_a_watch_sees_an_expired_lease_vanish(harness: Harness) -> None:
    changes, stop = watched(harness.registry)
    registration = harness.registry.register(record(), TTL)
    harness.elapse(registration.ttl_seconds)
    harness.eventually(lambda: ("down", "payments/p-1") in changes.kinds(), ETCD_EXPIRY_MARGIN + 1.0)
    stop()
    assert changes.kinds() == [("up", "payments/p-1"), ("down", "payments/p-1")]


def test_a_watch_hears_only_changes_made_after_it_started(harness: Harness) -> None:
    harness.registry.register(record(instance_id="before"), TTL)
    changes, stop = watched(harness.registry)
    harness.registry.register(record(instance_id="after", port=8102), TTL)
    harness.eventually(lambda: len(changes.kinds()) >= 1, 1.0)
    stop()
    assert changes.kinds() == [("up", "payments/after")]


def test_a_stopped_watch_hears_nothing_more(harness: Harness) -> None:
    changes, stop = watched(harness.registry)
    survivor, stop_survivor = watched(harness.registry)
    stop()
    harness.registry.register(record(), TTL)
    harness.eventually(lambda: len(survivor.kinds()) == 1, 1.0)
    stop_survivor()
    assert changes.kinds() == []


def test_a_callback_that_raises_does_not_stop_the_watch(harness: Harness) -> None:
    def broken(change: RegistryChange) -> None:
        raise RuntimeError("a broken dashboard")

    stop_broken = harness.registry.watch(broken)
    changes, stop = watched(harness.registry)
    harness.registry.register(record(), TTL)
    harness.registry.register(record(instance_id="p-2", port=8102), TTL)
    harness.eventually(lambda: len(changes.kinds()) == 2, 1.0)
    stop_broken()
    stop()


def test_describe_names_the_registry_and_check_passes(harness: Harness) -> None:
    harness.registry.check()
    assert harness.name in harness.registry.describe()


# ---------------------------------------------------------------------------------------------
# etcd only: where it keeps records, and an unreachable server.


@pytest.mark.etcd
def test_etcd_keeps_each_instance_as_json_under_its_service_key(etcd_server, etcd_prefix: str) -> None:
    from adapters.outbound.registry.etcd_client import EtcdClient

    registry = EtcdRegistry(etcd_server.url, prefix=etcd_prefix)
    registration = registry.register(record(), TTL)
    _, kvs = EtcdClient(etcd_server.url).range_prefix(etcd_prefix)
    registry.close()
    assert [kv.key for kv in kvs] == [f"{etcd_prefix}payments/p-1"]
    assert InstanceRecord.loads(kvs[0].value) == record()
    assert kvs[0].lease == int(registration.lease)


def test_an_unreachable_etcd_is_unavailable_naming_its_url_and_what_to_do() -> None:
    from adapters.outbound.registry.embedded import free_port

    url = f"http://127.0.0.1:{free_port()}"
    registry = EtcdRegistry(url, timeout=1.0)
    for call in (registry.check, lambda: registry.instances("payments"), lambda: registry.register(record(), TTL)):
        with pytest.raises(Unavailable) as raised:
            call()
        assert url in str(raised.value) and "registry.url" in str(raised.value)
    registry.close()


def test_etcd_credentials_in_the_url_are_never_shown() -> None:
    from adapters.outbound.registry.embedded import free_port

    registry = EtcdRegistry(f"http://orderhex:s3cret@127.0.0.1:{free_port()}", timeout=1.0)
    with pytest.raises(Unavailable) as raised:
        registry.check()
    registry.close()
    assert "s3cret" not in str(raised.value) and "s3cret" not in registry.describe()
    assert "http://127.0.0.1:" in registry.describe()


# ---------------------------------------------------------------------------------------------
# The static registry.

LISTING = "payments=http://127.0.0.1:8102,http://127.0.0.1:8101;inventory=http://127.0.0.1:8201/"


def test_static_lists_the_configured_instances_by_host_and_port() -> None:
    registry = StaticRegistry(LISTING)
    assert [(r.instance_id, r.address) for r in registry.instances("payments")] == [
        ("127.0.0.1:8101", "http://127.0.0.1:8101"), ("127.0.0.1:8102", "http://127.0.0.1:8102")]
    assert [r.address for r in registry.instances("inventory")] == ["http://127.0.0.1:8201"]
    assert registry.services() == ["inventory", "payments"]
    assert registry.instances("shipping") == []
    registry.check()
    assert "static" in registry.describe()


def test_static_accepts_a_listed_instance_and_changes_nothing() -> None:
    registry = StaticRegistry(LISTING)
    changes, stop = watched(registry)
    listed = registry.instances("payments")
    registration = registry.register(record(port=8101), TTL)
    assert registry.keep_alive(registration) is True
    registry.deregister(registration)
    stop()
    assert registry.instances("payments") == listed
    assert changes.kinds() == []


def test_static_refuses_an_unlisted_instance_saying_where_to_list_it() -> None:
    registry = StaticRegistry(LISTING)
    with pytest.raises(ValidationError, match=r"registry\.static") as raised:
        registry.register(record(port=9999), TTL)
    assert "http://127.0.0.1:9999" in str(raised.value)


@pytest.mark.parametrize(("listing", "named"), [
    ("payments", "'payments'"),
    ("payments=127.0.0.1:8101", "'127.0.0.1:8101'"),
    ("payments=http://127.0.0.1", "'http://127.0.0.1'"),
    ("payments=http://127.0.0.1:8101;payments=http://127.0.0.1:8102", "listed twice"),
    ("payments=http://127.0.0.1:8101,http://127.0.0.1:8101", "listed twice"),
])
def test_a_bad_static_listing_is_refused_naming_the_bad_part(listing: str, named: str) -> None:
    with pytest.raises(ValidationError, match=r"registry\.static") as raised:
        parse_static(listing)
    assert named in str(raised.value)


# ---------------------------------------------------------------------------------------------
# The record.


def test_an_instance_record_survives_a_json_round_trip() -> None:
    assert InstanceRecord.loads(record().dumps()) == record()


@pytest.mark.parametrize(("text", "field_name"), [
    ('{"service": "payments"}', "instance"),
    ("not json", "instance"),
    ('{"service": "a/b", "instance_id": "x", "address": "http://h:1", "started_at": "2026-01-01T00:00:00+00:00"}',
     "service"),
    ('{"service": "a", "instance_id": "x", "address": "h:1", "started_at": "2026-01-01T00:00:00+00:00"}',
     "address"),
])
def test_a_bad_instance_record_is_refused_naming_the_field(text: str, field_name: str) -> None:
    with pytest.raises(ValidationError) as raised:
        InstanceRecord.loads(text)
    assert raised.value.field == field_name
