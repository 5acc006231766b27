"""The composition root: configuration -> containers -> a running process.

Here and only here are implementations chosen: the adapters each port may use (the registry),
the settings table, a root container composing one container per bounded context, what each
process role runs, and the `orderhex` console script.

Every `orderhex` command starts by importing this module, so it imports no adapter and no
framework at module level: each registry factory and each extra subcommand imports its adapter
when it runs. `orderhex --help` loads none of SQLAlchemy, FastAPI, Textual or Kafka, and
`orderhex orders` loads only the store it reads (tests/unit/test_startup.py, bench/startup.py).
"""

from __future__ import annotations

import functools
import importlib.abc
import operator
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import astuple
from datetime import timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from adapters.inbound.cli import main as cli
from adapters.inbound.cli.settings import Config, ConfigError, Setting, default_data_dir
from adapters.inbound.cli.settings import load_config as _load_config
from adapters.inbound.cli.settings import load_from as _load_from
from adapters.inbound.rest import command as rest_command
from adapters.outbound.memory.feed import RingBufferFeed
from core.inventory.service import CONTEXT as INVENTORY
from core.inventory.service import InventoryService
from core.inventory.service import context_for as inventory_for
from core.kernel.errors import DomainError, Unavailable, ValidationError
from core.orders.service import CONTEXT as ORDERS
from core.orders.service import OrderingService
from core.orders.service import context_for as orders_for
from core.payments.service import CONTEXT as PAYMENTS
from core.payments.service import PaymentsService
from core.payments.service import context_for as payments_for
from core.runtime.context import Context, Topics
from core.runtime.operations import Operations
from core.runtime.service import Service
from core.runtime.switchboard import Slot, Switchboard
from core.shipping.service import CONTEXT as SHIPPING
from core.shipping.service import ShippingService
from core.shipping.service import context_for as shipping_for
from tui import command as dashboard_command

if TYPE_CHECKING:
    from adapters.inbound.kafka.intake import CommandIntake
    from adapters.inbound.workers.relay import RelayGroup, RelayWorker

__all__ = ["ConfigError", "command_intake", "relay_worker", "start_relay"]

# dependency_injector imports, when they are installed, FastAPI, Starlette and Werkzeug (its wiring
# module, to recognise their markers in @inject functions), pydantic and PyYAML (for
# providers.Configuration.from_pydantic / from_yaml): about 220 ms here, which every `orderhex`
# command would pay. orderhex uses none of these (no @inject or Provide markers; settings.py reads
# the configuration), so they are kept out while dependency_injector loads. A package already
# imported is left alone, and `serve` imports FastAPI itself afterwards.
_DI_OPTIONAL_INTEGRATIONS = frozenset(("fastapi", "fast_depends", "starlette", "werkzeug", "pydantic",
                                       "pydantic_settings", "yaml"))


class _SkipOptionalIntegrations(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.partition(".")[0] in _DI_OPTIONAL_INTEGRATIONS:
            raise ModuleNotFoundError(f"{name} is not loaded with dependency_injector", name=name)


def _load_dependency_injector() -> tuple[ModuleType, ModuleType]:
    skip = _SkipOptionalIntegrations()
    sys.meta_path.insert(0, skip)
    try:
        from dependency_injector import containers, providers
    finally:
        sys.meta_path.remove(skip)
    return containers, providers


containers, providers = _load_dependency_injector()

# ---------------------------------------------------------------------------------------------
# The registry: which adapters exist for which port. Contract suites parametrize over it.
# Each factory takes the effective configuration and the feed, and imports its adapter itself.

AdapterFactory = Callable[[Config, Any], Any]
# A storage factory also takes the service whose database it opens: None for the orders service's
# (the one that came first: its database keeps its name) and for the shared layout's one database.
StorageFactory = Callable[[Config, Any, str | None], Any]


def _memory_storage(config: Config, feed: Any, service: str | None = None) -> Any:
    from adapters.outbound.memory.storage import MemoryStorage

    return MemoryStorage(config["storage.orders"], config["storage.snapshot_every"])


def _file_storage(config: Config, feed: Any, service: str | None = None) -> Any:
    from adapters.outbound.file.storage import FileStorage

    directory = Path(config["storage.file_dir"]).expanduser() if config["storage.file_dir"] else None
    directory = directory or config.data_dir / "files"
    if service is not None:
        directory = directory.with_name(f"{directory.name}-{service}")
    return FileStorage(directory, feed=feed, mode=config["storage.orders"],
                       snapshot_every=config["storage.snapshot_every"],
                       compact_bytes=config["storage.file_compact_bytes"])


def _sql_storage(adapter: str, config: Config, feed: Any, service: str | None = None) -> Any:
    from adapters.outbound.sql.storage import open_sql_storage

    return open_sql_storage(adapter, config.data_dir, config["storage.url"], mode=config["storage.orders"],
                            snapshot_every=config["storage.snapshot_every"],
                            busy_timeout_ms=config["storage.busy_timeout_ms"],
                            connect_timeout_s=config["storage.connect_timeout_s"], service=service)


def _memory_messaging(config: Config, feed: Any) -> Any:
    from adapters.outbound.memory.messaging import MemoryMessaging

    return MemoryMessaging()


def _kafka_messaging(config: Config, feed: Any) -> Any:
    from adapters.outbound.kafka.factory import open_kafka

    prefix = config["messaging.topic_prefix"]
    every = [topic for name in CONTEXTS for topic in astuple(Topics.of(prefix, name))] + list(saga_topics(config))
    return open_kafka(
        bootstrap_servers=config["messaging.bootstrap_servers"], data_dir=config.data_dir, topics=tuple(every),
        partitions=config["messaging.partitions"], delivery_timeout_ms=config["messaging.delivery_timeout_ms"],
        session_timeout_ms=config["messaging.session_timeout_ms"],
        heartbeat_interval_ms=config["messaging.heartbeat_interval_ms"])


def _system_clock(config: Config, feed: Any) -> Any:
    from adapters.outbound.system.clock import SystemClock

    return SystemClock()


def _stepping_clock(config: Config, feed: Any) -> Any:
    from adapters.outbound.memory.determinism import SteppingClock

    return SteppingClock()


def _uuid7_ids(config: Config, feed: Any) -> Any:
    from adapters.outbound.system.ids import Uuid7Ids

    return Uuid7Ids()


def _sequential_ids(config: Config, feed: Any) -> Any:
    from adapters.outbound.memory.determinism import SequentialIds

    return SequentialIds("o")


STORAGE_ADAPTERS: dict[str, StorageFactory] = {
    "memory": _memory_storage,
    "file": _file_storage,
    "sqlite": partial(_sql_storage, "sqlite"),
    "postgres": partial(_sql_storage, "postgres"),
}
MESSAGING_ADAPTERS: dict[str, AdapterFactory] = {"memory": _memory_messaging, "kafka": _kafka_messaging}
CLOCK_ADAPTERS: dict[str, AdapterFactory] = {"system": _system_clock, "stepping": _stepping_clock}
ID_ADAPTERS: dict[str, AdapterFactory] = {"uuid7": _uuid7_ids, "sequential": _sequential_ids}
FEED_ADAPTERS: dict[str, AdapterFactory] = {
    "ring": lambda config, feed: feed,
}
REGISTRY: dict[str, dict[str, Any]] = {
    "storage": STORAGE_ADAPTERS, "messaging": MESSAGING_ADAPTERS, "clock": CLOCK_ADAPTERS, "ids": ID_ADAPTERS,
    "feed": FEED_ADAPTERS,
}
CONFIG_KEY = {"storage": "storage.adapter", "messaging": "messaging.adapter", "clock": "clock", "ids": "ids",
              "feed": "feed.adapter"}
# The bounded contexts a process can run, by name: all of them make the monolith.
CONTEXTS: dict[str, Context] = {context.name: context for context in (ORDERS, INVENTORY, PAYMENTS, SHIPPING)}
SETTINGS: dict[str, Setting] = {
    "data_dir": Setting(default_data_dir(), help="where embedded stores keep their files, for every command "
                                                  "(the CLI, serve, relay, consume and the dashboard)"),
    "clock": Setting("system", tuple(CLOCK_ADAPTERS)),
    "ids": Setting("uuid7", tuple(ID_ADAPTERS)),
    "deployment.services": Setting(",".join(CONTEXTS), items=tuple(CONTEXTS),
                                   help="the services this process runs: all (the monolith) or some "
                                        "(`orderhex serve --service payments`: one process per service)"),
    "storage.adapter": Setting("sqlite", tuple(STORAGE_ADAPTERS)),
    "storage.layout": Setting("per-service", ("per-service", "shared"),
                              help="per-service: a database (file, directory) per service; shared: one for all"),
    "storage.orders": Setting("state", ("state", "events"), help="keep aggregates as their state or their events"),
    "storage.url": Setting("", help='a postgresql:// or sqlite:/// URL, or "embedded"; each SQL adapter uses '
                                    "a URL of its own kind, else its embedded database in data_dir"),
    "storage.busy_timeout_ms": Setting(5000, minimum=0, help="how long a SQLite writer waits for the lock"),
    "storage.connect_timeout_s": Setting(5, minimum=1, help="how long to wait for a PostgreSQL server"),
    "storage.snapshot_every": Setting(50, minimum=1),
    "storage.file_dir": Setting("", help="the file store's directory; empty: <data_dir>/files"),
    "storage.file_compact_bytes": Setting(8 * 1024 * 1024, minimum=1024,
                                          help="the file store snapshots and restarts its journal past this "
                                               "size and the last snapshot's"),
    "messaging.adapter": Setting("memory", tuple(MESSAGING_ADAPTERS)),
    "messaging.bootstrap_servers": Setting("embedded", help='host:port,... or "embedded" (Tansu in data_dir)'),
    "messaging.topic_prefix": Setting("orderhex", help="a service's topics are <prefix>.<service>.events, "
                                                       ".commands and .commands.dlq; its consumer group "
                                                       "<prefix>.<service>"),
    "messaging.partitions": Setting(1, minimum=1, help="partitions of topics orderhex creates"),
    "messaging.delivery_timeout_ms": Setting(30_000, minimum=100, help="how long a publish waits for the broker"),
    # 10 s, not librdkafka's 45 s: a new group's first join waits about half of it (5 s, not 23 s),
    # at the cost of forgetting a member that died without leaving after 10 s instead of 45 s.
    "messaging.session_timeout_ms": Setting(10_000, minimum=1000, help="consumer group session timeout"),
    "messaging.heartbeat_interval_ms": Setting(1_000, minimum=100, help="consumer group heartbeat interval"),
    "messaging.max_message_bytes": Setting(65_536, minimum=1024, help="a consumed command larger than this is "
                                                                      "dead-lettered unread, its copy cut to this"),
    "intake.group_commit": Setting(False, help="orderhex consume: one transaction per polled batch of commands"),
    "relay.batch_size": Setting(500, minimum=1, help="outbox rows claimed and published per round"),
    "relay.idle_ms": Setting(200, minimum=1, help="wait between rounds when the outbox is empty"),
    "relay.max_backoff_ms": Setting(10_000, minimum=1, help="longest wait between retries during an outage"),
    "relay.retention_seconds": Setting(7 * 24 * 3600, minimum=0, help="published rows are purged after this"),
    "relay.report_ms": Setting(1_000, minimum=10, help="how often the relay reports backlog and lag"),
    "api.host": Setting("127.0.0.1"),
    "api.port": Setting(8000, minimum=0, maximum=65535),
    "api.admin_token": Setting(""),
    "api.api_key": Setting("", help="when set, order endpoints require it in the X-API-Key header"),
    "api.max_body_bytes": Setting(65_536, minimum=1, help="larger request bodies get 413"),
    "api.shutdown_timeout": Setting(30, minimum=1, help="seconds SIGTERM waits for requests in flight"),
    "api.access_log": Setting(False, help="log one line per HTTP request"),
    "api.max_event_streams": Setting(50, minimum=1, help="admin event streams open at once; one more gets 503"),
    "api.event_replay": Setting(1000, minimum=10, help="feed events replayed to a new admin event stream"),
    "api.header_timeout_s": Setting(10, minimum=1, help="a connection that has not sent a whole request head "
                                                        "(request line and headers) in this time is closed"),
    "api.keep_alive_s": Setting(5, minimum=1, help="an idle keep-alive connection is closed after this"),
    "api.max_connections": Setting(500, minimum=1, help="connections at once; past it, requests get 503"),
    "api.kafka_intake": Setting(False, help="`orderhex serve` also consumes the commands topic (messaging kafka)"),
    "demo.seed": Setting(True, help="the dashboard and `serve` put demo stock and credit accounts into stores that "
                                    "have none yet (`orderhex seed` does it on demand)"),
    "payments.default_credit_limit": Setting("1000.00", help="the credit a customer without an account gets at "
                                                             "their first payment, in the payment's currency"),
    "log.format": Setting("auto", ("auto", "json", "text"),
                          help="log lines: JSON, text, or auto (JSON unless stderr is a terminal)"),
    "log.level": Setting("info", ("debug", "info", "warning", "error"), help="the least severe lines logged"),
    "feed.adapter": Setting("ring", tuple(FEED_ADAPTERS)),
    "feed.capacity": Setting(10_000, minimum=10),
    "saga.mode": Setting("orchestration", ("orchestration", "choreography", "manual"),
                         help="orchestration: orders drives the place-order saga (commands, replies, deadlines); "
                              "choreography: the services react to each other's events; manual: inventory and "
                              "payments hold on OrderPlaced and a person approves or rejects"),
    "saga.answer_deadline_ms": Setting(30_000, minimum=100,
                                      help="how long a saga waits for stock, payment or approval before it asks "
                                           "again (orchestration: three tries); choreography waits as long as "
                                           "those three tries, then rejects"),
    "saga.timer_batch": Setting(100, minimum=1, help="due saga timers the timer worker fires per round"),
    "saga.timer_idle_ms": Setting(200, minimum=1, help="the timer worker's wait when no timer is due"),
    "saga.reply_lanes": Setting(8, minimum=1,
                                help="replies of different sagas handled at once by orders' saga consumer "
                                     "(their commits share transactions); 1 takes them one by one"),
    "registry.adapter": Setting("memory", ("memory", "static", "etcd"),
                                help="service discovery: memory (one process), static (registry.static), etcd"),
    "registry.url": Setting("embedded", help='etcd\'s client URL (http://host:2379), or "embedded" (an etcd in '
                                             "data_dir: `orderhex registry status|stop`)"),
    "registry.static": Setting("", help='the static registry\'s instances: "payments=http://127.0.0.1:8101,'
                                        'http://127.0.0.1:8102;inventory=http://127.0.0.1:8201"'),
    "registry.prefix": Setting("/orderhex/services/", help="etcd keys: <prefix><service>/<instance_id>"),
    "registry.ttl_seconds": Setting(5, minimum=2, help="an instance's lease: a killed instance leaves within it"),
    "registry.timeout_ms": Setting(2_000, minimum=100, help="how long a registry call waits for etcd"),
    "registry.partition_threshold_percent": Setting(50, minimum=1, maximum=99,
                                                    help="more than this share of instances vanishing at once "
                                                         "is taken for a partition: the last known list is kept"),
    "registry.partition_hold_seconds": Setting(60, minimum=1, help="how long a partition hold lasts at most"),
    "health.interval_ms": Setting(1_000, minimum=50, help="how often each instance's /health is probed"),
    "health.timeout_ms": Setting(1_000, minimum=10, help="a probe with no answer in this time fails"),
    "health.fall": Setting(3, minimum=1, help="consecutive failed probes that take an instance out"),
    "health.rise": Setting(2, minimum=1, help="consecutive passed probes that bring it back"),
    "sidecar.api_key": Setting("", help="keys `orderhex sidecar` accepts in X-API-Key (comma-separated); empty: "
                                        "api.api_key; both empty: requests pass unchecked"),
    "sidecar.jwt_key": Setting("", help="the HS256 secret of JWTs `orderhex sidecar` accepts in Authorization: "
                                        "Bearer (exp and sub required); empty: gateway.jwt_key"),
}
# Calls between services, their circuit breakers, the overview, the checkout and injected faults.
SETTINGS.update({
    **{f"services.{name}.url": Setting("", help=f"where {name} answers over HTTP when this process does not run "
                                                 f"it (e.g. http://127.0.0.1:8002)") for name in CONTEXTS},
    "calls.timeout_ms": Setting(2_000, minimum=1, help="how long one call to another service may take"),
    "calls.retries": Setting(2, minimum=0, maximum=10, help="extra attempts of a failed idempotent call (GET)"),
    "calls.backoff_ms": Setting(50, minimum=0, help="a retry waits a random share of this, doubling each time"),
    "breaker.window": Setting("count", ("count", "time"), help="a breaker's window: its last calls, or seconds"),
    "breaker.window_size": Setting(20, minimum=1, help="calls (count window) or seconds (time window)"),
    "breaker.minimum_calls": Setting(5, minimum=1, help="calls in the window before a breaker may open"),
    "breaker.failure_rate_percent": Setting(50, minimum=1, maximum=100, help="failures that open a breaker"),
    "breaker.slow_call_ms": Setting(1_000, minimum=1, help="a call longer than this is slow"),
    "breaker.slow_call_rate_percent": Setting(100, minimum=1, maximum=100, help="slow calls that open a breaker"),
    "breaker.wait_in_open_ms": Setting(5_000, minimum=1, help="how long a breaker stays open before one probe"),
    "breaker.max_wait_in_open_ms": Setting(60_000, minimum=1, help="the longest an open breaker waits, growing"),
    "overview.part_timeout_ms": Setting(1_000, minimum=1, help="how long the overview waits for one part"),
    "overview.deadline_ms": Setting(1_500, minimum=1, help="how long the whole overview may take"),
    "checkout.deadline_ms": Setting(2_000, minimum=1, help="the checkout quote's deadline when the caller gives "
                                                           "no X-Deadline-Ms"),
    "faults.enabled": Setting(False, help="allow injecting faults (orderhex faults set, the admin API); off, "
                                          "every attempt is refused"),
    "faults.hold_ms": Setting(10_000, minimum=1, help="how long an injected timeout keeps a caller waiting"),
})
# The API gateway (`orderhex gateway`, adapters/inbound/gateway/).
SETTINGS.update({
    "gateway.host": Setting("127.0.0.1"),
    "gateway.port": Setting(8080, minimum=0, maximum=65535),
    "gateway.routes": Setting("", help="/prefix=service[,read_scope,write_scope];... (longest prefix wins); empty: "
                                       "/orders, /checkout -> orders, /inventory, /payments, /shipping, each "
                                       "needing <service>:read (GET, HEAD) or <service>:write"),
    "gateway.balance": Setting("least-outstanding", ("round-robin", "least-outstanding"),
                               help="how the gateway picks among a service's healthy instances"),
    "gateway.timeout_ms": Setting(5_000, minimum=1, help="how long one attempt at an upstream may take"),
    "gateway.connect_timeout_ms": Setting(500, minimum=1, help="how long connecting to an upstream may take"),
    "gateway.retries": Setting(2, minimum=0, maximum=10, help="extra attempts, on another instance, of a request "
                                                              "never received, or safe (GET, HEAD, OPTIONS): "
                                                              "a write that may have arrived is not resent"),
    "gateway.retry_budget_percent": Setting(20, minimum=0, maximum=100,
                                            help="retries add at most this share of requests over the window"),
    "gateway.retry_budget_window_s": Setting(10, minimum=1, help="the retry budget's window"),
    "gateway.retry_min_per_second": Setting(1, minimum=0, help="retries always allowed per second, however quiet"),
    "gateway.eject_after_failures": Setting(3, minimum=1, help="5xx or connection failures in a row that take an "
                                                               "instance out of rotation (passive ejection)"),
    "gateway.eject_ms": Setting(10_000, minimum=1, help="how long an ejected instance stays out (doubling if it "
                                                        "fails again)"),
    "gateway.refresh_ms": Setting(1_000, minimum=50, help="re-list the registry this often, besides its watch"),
    "gateway.api_key": Setting("", help="clients' API keys for X-API-Key: client=key=scope,scope;... (scopes like "
                                        "orders:read, orders:write, admin); empty with no jwt_key: auth is off"),
    "gateway.jwt_key": Setting("", help="the HS256 secret JWTs (Authorization: Bearer) are signed with; their "
                                        "`sub` is the client, `scope` its scopes"),
    "gateway.upstream_api_key": Setting("", help="the X-API-Key the gateway presents to the services (their "
                                                 "api.api_key)"),
    "gateway.rate_limit": Setting("100/second", help="each client's limit, like 100/second or 600 per minute"),
    "gateway.rate_limit_strategy": Setting("sliding-window", ("sliding-window", "moving-window"),
                                           help="the limits library's strategy (moving-window is exact, dearer)"),
    "gateway.max_body_bytes": Setting(65_536, minimum=1, help="larger request bodies get 413"),
    "gateway.access_log": Setting(True, help="log one structured line per request"),
})
load_config = partial(_load_config, SETTINGS)
load_from = partial(_load_from, SETTINGS)

# ---------------------------------------------------------------------------------------------
# The containers.


def services_of(config: Config) -> tuple[str, ...]:
    """The services this process runs, in the order of CONTEXTS."""
    wanted = set(config["deployment.services"].split(","))
    return tuple(name for name in CONTEXTS if name in wanted)


def storage_slot(config: Config, service: str) -> str:
    """The switchboard slot of a service's store: its own (per-service layout) or the shared one."""
    return "storage" if config["storage.layout"] == "shared" else f"{service}.storage"


def topics(config: Config, service: str) -> Topics:
    return Topics.of(config["messaging.topic_prefix"], service)


def _slots(config: Config, feed: Any) -> list[Slot]:
    if config["storage.layout"] == "shared" and config["storage.orders"] == "events":
        # Event streams are keyed by aggregate id, and the services share them (an order's id is
        # also its reservation's, payment's and shipment's): one database cannot tell them apart.
        raise ConfigError("storage.layout", "shared", 'per-service, or storage.orders = "state"',
                          config.sources["storage.layout"])
    storage = [Slot(name=storage_slot(config, service),
                    factories={name: partial(factory, config, feed, None if service == "orders" else service)
                               for name, factory in STORAGE_ADAPTERS.items()},
                    active=config["storage.adapter"])
               for service in services_of(config)]
    if config["storage.layout"] == "shared":
        storage = [Slot(name="storage", factories={name: partial(factory, config, feed, None)
                                                   for name, factory in STORAGE_ADAPTERS.items()},
                        active=config["storage.adapter"])]
    others = [Slot(name=port, factories={name: partial(factory, config, feed) for name, factory in adapters.items()},
                   active=config[CONFIG_KEY[port]], switchable=port == "messaging")
              for port, adapters in REGISTRY.items() if port != "storage"]
    return storage + others


def _record_switch(config: Config, port: str, adapter: str) -> None:
    if port in CONFIG_KEY:  # a service's own store has no key of its own: storage.adapter is where all start
        config.set(CONFIG_KEY[port], adapter, "switched at run time")


def _adapter(registry: dict[str, AdapterFactory], key: str, config: Config, feed: Any) -> Any:
    return registry[config[key]](config, feed)


def _live_storage(board: Switchboard, config: Config, service: str) -> Any:
    return board.live(storage_slot(config, service))


def saga_topics(config: Config) -> tuple[str, str]:
    """The orders saga's replies topic, and the topic of the commands its sagas send orders itself
    (ApproveOrder, RejectOrder): orders' public commands topic has its own intake."""
    prefix = config["messaging.topic_prefix"]
    return f"{prefix}.orders.saga-replies", f"{prefix}.orders.saga-commands"


def participant_topic(config: Config, participant: str) -> str:
    """Where a saga's command for `participant` goes: its commands topic (orders: its saga one)."""
    return saga_topics(config)[1] if participant == "orders" else topics(config, participant).commands


def saga_definitions(config: Config) -> dict[str, Any]:
    """The orders sagas, with the configured answer deadline."""
    from core.orders.sagas import definitions

    return definitions(timedelta(milliseconds=config["saga.answer_deadline_ms"]))


def _saga_runner(config: Config, feed: Any, clock: Any) -> Any:
    """The orders saga runner in orchestration mode; None in choreography and manual (no coordinator)."""
    if config["saga.mode"] != "orchestration":
        return None
    from core.runtime.sagas import SagaRunner

    return SagaRunner(saga_definitions(config), topics=partial(participant_topic, config),
                      replies_topic=saga_topics(config)[0], feed=feed, now=clock.now)


def _flow_tracker(config: Config, feed: Any, clock: Any, ids: Any) -> Any:
    """The orders flow tracker in choreography mode; None otherwise (the runner drives, or people do)."""
    if config["saga.mode"] != "choreography":
        return None
    from core.orders.handlers import do_flow_command
    from core.runtime.flows import FlowTracker

    return FlowTracker(saga_definitions(config), owner=ORDERS.name, feed=feed, now=clock.now,
                       act=partial(do_flow_command, now=clock.now, new_id=ids.new_id))


def _mode_context(config: Config, context_for: Callable[[str], Context]) -> Context:
    return context_for(config["saga.mode"])


def _service_settings(config: Config, saga_runner: Any = None, flow_tracker: Any = None) -> dict[str, Any]:
    from core.kernel.money import parse_amount

    try:
        limit = parse_amount(config["payments.default_credit_limit"], "payments.default_credit_limit")
    except DomainError as exc:
        raise ConfigError("payments.default_credit_limit", config["payments.default_credit_limit"],
                          f'a decimal string like "1000.00" ({exc})',
                          config.sources["payments.default_credit_limit"]) from exc
    return {"default_credit_limit": Decimal(limit), "saga_runner": saga_runner, "flow_tracker": flow_tracker}


def _running(config: Config, **services: Any) -> list[Service]:
    """The configured services only: the others are never built."""
    return [provider() for name, provider in services.items() if name in services_of(config)]


def _health(config: Config, board: Switchboard) -> dict[str, Any]:
    slots = dict.fromkeys(storage_slot(config, service) for service in services_of(config))
    return {**{slot: board.live(slot) for slot in slots}, "messaging": board.live("messaging")}


class ContextContainer(containers.DeclarativeContainer):
    """One bounded context as a service: its bus, unit of work and queries over its store's slot."""

    context = providers.Dependency(instance_of=Context)
    config = providers.Dependency(instance_of=Config)
    switchboard = providers.Dependency(instance_of=Switchboard)
    feed = providers.Dependency()
    clock = providers.Dependency()
    ids = providers.Dependency()
    settings = providers.Dependency(instance_of=dict)
    storage = providers.Callable(_live_storage, switchboard, config,
                                 providers.Callable(operator.attrgetter("name"), context))
    topics = providers.Callable(topics, config, providers.Callable(operator.attrgetter("name"), context))
    service = providers.ThreadSafeSingleton(
        Service, context, storage=storage, feed=feed, clock=clock, ids=ids,
        events_topic=providers.Callable(operator.attrgetter("events"), topics), settings=settings)


class RootContainer(containers.DeclarativeContainer):
    """A process: the shared system adapters, the switchboard, and one container per context
    (only the configured contexts' services are ever built)."""

    config = providers.Dependency(instance_of=Config)
    feed = providers.ThreadSafeSingleton(RingBufferFeed, providers.Callable(operator.itemgetter("feed.capacity"),
                                                                            config))
    clock = providers.ThreadSafeSingleton(_adapter, CLOCK_ADAPTERS, "clock", config, feed)
    ids = providers.ThreadSafeSingleton(_adapter, ID_ADAPTERS, "ids", config, feed)
    switchboard = providers.ThreadSafeSingleton(
        Switchboard, providers.Callable(_slots, config, feed), feed=feed, clock=clock,
        on_switch=providers.Callable(partial, _record_switch, config))
    messaging = providers.Callable(lambda board: board.live("messaging"), switchboard)
    saga_runner = providers.ThreadSafeSingleton(_saga_runner, config, feed, clock)
    flow_tracker = providers.ThreadSafeSingleton(_flow_tracker, config, feed, clock, ids)
    settings = providers.Singleton(_service_settings, config, saga_runner, flow_tracker)
    orders = providers.Container(ContextContainer, context=providers.Callable(_mode_context, config, orders_for),
                                 config=config, switchboard=switchboard,
                                 feed=feed, clock=clock, ids=ids, settings=settings)
    inventory = providers.Container(ContextContainer, context=providers.Callable(_mode_context, config, inventory_for),
                                    config=config, switchboard=switchboard,
                                    feed=feed, clock=clock, ids=ids, settings=settings)
    payments = providers.Container(ContextContainer, context=providers.Callable(_mode_context, config, payments_for),
                                   config=config, switchboard=switchboard,
                                   feed=feed, clock=clock, ids=ids, settings=settings)
    shipping = providers.Container(ContextContainer, context=providers.Callable(_mode_context, config, shipping_for),
                                   config=config, switchboard=switchboard,
                                   feed=feed, clock=clock, ids=ids, settings=settings)
    services = providers.Singleton(_running, config, orders=orders.service.provider,
                                   inventory=inventory.service.provider, payments=payments.service.provider,
                                   shipping=shipping.service.provider)
    operations = providers.ThreadSafeSingleton(
        Operations, switchboard=switchboard, feed=feed, services=services,
        health_checks=providers.Callable(_health, config, switchboard),
        slot_of=providers.Callable(partial, storage_slot, config), pid=providers.Callable(os.getpid))


class NotHere:
    """Stands for a service this process does not run: any use says so, and where to set it."""

    def __init__(self, service: str, running: tuple[str, ...]) -> None:
        self._service = service
        self._running = running

    def __getattr__(self, name: str) -> Any:
        raise ValidationError("deployment.services", f"{self._service} does not run in this process (it runs "
                                                     f"{', '.join(self._running)}); add it, or ask the process "
                                                     f"that runs it")


class Application:
    """The running hexagon: what inbound adapters (CLI, REST, Kafka, dashboard) are handed.

    `services` are the configured contexts' runtime services by name; `ordering`, `inventory`,
    `payments` and `shipping` their inbound ports (a NotHere for one this process does not run).
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.container = RootContainer(config=config)
        self.feed = self.container.feed()
        self.clock = self.container.clock()
        self.ids = self.container.ids()
        self.switchboard: Switchboard = self.container.switchboard()
        self.messaging = self.container.messaging()
        self.services: dict[str, Service] = {s.name: s for s in self.container.services()}
        # The orders saga runner (orchestration mode, in a process that runs orders), else None.
        self.saga_runner: Any = self.container.saga_runner() if "orders" in self.services else None
        # The orders flow tracker (choreography mode, in a process that runs orders), else None.
        self.flow_tracker: Any = self.container.flow_tracker() if "orders" in self.services else None
        self.ordering: Any = self._port("orders", OrderingService)
        self.inventory: Any = self._port("inventory", InventoryService)
        self.payments: Any = self._port("payments", PaymentsService)
        self.shipping: Any = self._port("shipping", ShippingService)
        first = next(iter(self.services.values()))
        # The first service's store and bus: the orders service's, in every process that runs it.
        self.orders: Service = self.services.get("orders", first)
        self.storage = self.orders.storage
        self.bus = self.orders.bus
        self.operations: Operations = self.container.operations()
        self.control = self.operations

    @functools.cached_property
    def resilience_kit(self) -> ResilienceKit:
        """Breakers, faults and the calls between services: built at first use (serve, the CLI)."""
        return ResilienceKit(self)

    @property
    def resilience(self) -> Any:
        return self.resilience_kit.resilience

    @functools.cached_property
    def saga_operations(self) -> Any:
        """The SagaOperations port (flight board, `orderhex sagas`, /admin/sagas) over the orders
        store; None in a process that does not run orders. Acting needs the saga runner, which only
        orchestration mode has."""
        if "orders" not in self.services:
            return None
        from core.runtime.saga_operations import SagaOperationsService

        orders, runner = self.orders, self.saga_runner

        def act(saga_id: str, operator: Any) -> None:
            if runner is None:
                raise ValidationError("saga.mode", f"{self.config['saga.mode']} has no coordinator: sagas are "
                                                   f"acted on in orchestration mode only")
            runner.act(orders.unit_of_work(), saga_id, operator)

        return SagaOperationsService(orders.storage, saga_definitions(self.config), act)

    def saga_faults(self) -> Callable[[str], Any] | None:
        """The faults injected into saga participants' commands (faults.enabled), else None."""
        if not self.config["faults.enabled"]:
            return None
        return self.resilience_kit.injector.decide

    def rest_extras(self) -> dict[str, Any]:
        """What `serve` adds to the REST app: the overview, the checkout, the breakers and faults."""
        kit = self.resilience_kit
        return {"overviews": kit.overviews, "checkout": kit.checkout, "resilience": kit.resilience,
                "fault_door": kit.injector.decide if self.config["faults.enabled"] else None,
                "fault_hold_seconds": self.config["faults.hold_ms"] / 1000, "board": kit.board,
                "sagas": self.saga_operations}

    def storage_slot(self, service: str) -> str:
        return storage_slot(self.config, service)

    def topics(self, service: str) -> Topics:
        return topics(self.config, service)

    def saga_topics(self) -> tuple[str, str]:
        """The orders saga's replies topic and its own saga commands topic."""
        return saga_topics(self.config)

    def _port(self, name: str, port: Callable[[Service], Any]) -> Any:
        service = self.services.get(name)
        return port(service) if service is not None else NotHere(name, tuple(self.services))

    @property
    def relay(self) -> Any:
        """The outbox relay worker this process runs (serve, dashboard, relay), if any."""
        return self.operations.relay

    def close(self) -> None:
        """Close every adapter this application opened (and only those: nothing is started here)."""
        self.switchboard.close()


class ResilienceKit:
    """One process's breakers (a BreakerBoard), faults (a FaultInjector), forced states (kept in the
    data directory), and the query ports orders uses: in-process for a service this process runs,
    HTTP to services.<name>.url for one it does not."""

    def __init__(self, app: Application) -> None:
        import random
        import time

        from adapters.outbound.file.forced import FileForcedStates
        from core.runtime.breaker import BreakerBoard, BreakerConfig
        from core.runtime.faults import FaultInjector
        from core.runtime.resilience import Breakers, FaultDoor, ResilienceService, counts

        config = app.config
        self.app = app
        self.breaker_config = BreakerConfig(
            window=config["breaker.window"], window_size=config["breaker.window_size"],
            minimum_calls=config["breaker.minimum_calls"],
            failure_rate_threshold=config["breaker.failure_rate_percent"] / 100,
            slow_call_duration=config["breaker.slow_call_ms"] / 1000,
            slow_call_rate_threshold=config["breaker.slow_call_rate_percent"] / 100,
            wait_in_open=config["breaker.wait_in_open_ms"] / 1000,
            max_wait_in_open=max(config["breaker.max_wait_in_open_ms"], config["breaker.wait_in_open_ms"]) / 1000)
        self.board = BreakerBoard(monotonic=time.monotonic, now=app.clock.now, feed=app.feed, counts=counts)
        self.injector = FaultInjector(config["faults.enabled"], random.random, app.feed, app.clock.now)
        self.breakers = Breakers(self.board, self.breaker_config)
        self.door = FaultDoor(self.injector, time.sleep, config["faults.hold_ms"] / 1000)
        self.resilience = ResilienceService(self.board, self.injector,
                                            FileForcedStates(config.data_dir / "breakers.json"),
                                            services=tuple(CONTEXTS), config=self.breaker_config)
        self.resilience.restore()
        self._random, self._time = random, time
        if "orders" in app.services:  # the breakers of orders' calls, listed (and forceable) before the first
            for service in ("inventory", "payments", "shipping"):
                self.board.ensure(f"{'local' if service in app.services else 'http'}:{service}", self.breaker_config)

    def _caller(self, service: str) -> Any:
        from adapters.outbound.http.queries import ServiceCaller

        config = self.app.config
        return ServiceCaller(service, config[f"services.{service}.url"], guard=self.breakers.guard(f"http:{service}"),
                             timeout=config["calls.timeout_ms"] / 1000, retries=config["calls.retries"],
                             backoff=config["calls.backoff_ms"] / 1000, random=self._random.random,
                             sleep=self._time.sleep, monotonic=self._time.monotonic, api_key=config["api.api_key"])

    def query_port(self, service: str) -> Any:
        """StockLevels (inventory), Credit (payments) or ShipmentStatus (shipping), by topology."""
        from adapters.outbound.http import queries as http
        from adapters.outbound.inprocess import queries as local

        if service in self.app.services:
            port = {"inventory": local.LocalStockLevels, "payments": local.LocalCredit,
                    "shipping": local.LocalShipmentStatus}[service]
            return port(getattr(self.app, service), door=self.door, guard=self.breakers.guard(f"local:{service}"))
        remote = {"inventory": http.HttpStockLevels, "payments": http.HttpCredit,
                  "shipping": http.HttpShipmentStatus}[service]
        return remote(self._caller(service))

    @functools.cached_property
    def overviews(self) -> Any:
        from core.orders.overview import OrderOverviews
        from core.runtime.fanout import FanOut, LastKnown
        from core.runtime.resilience import classify

        if "orders" not in self.app.services:
            return None
        config, monotonic = self.app.config, self._time.monotonic
        return OrderOverviews(self.app.ordering, self.query_port("inventory"), self.query_port("payments"),
                              self.query_port("shipping"), fanout=FanOut(monotonic=monotonic, classify=classify),
                              last_known=LastKnown(monotonic), monotonic=monotonic,
                              part_timeout=config["overview.part_timeout_ms"] / 1000,
                              deadline=config["overview.deadline_ms"] / 1000)

    @functools.cached_property
    def checkout(self) -> Any:
        from core.orders.checkout import Checkout

        if "orders" not in self.app.services:
            return None
        return Checkout(self.query_port("payments"), monotonic=self._time.monotonic,
                        deadline=self.app.config["checkout.deadline_ms"] / 1000, door=self.door)


def _resilience_command(name: str) -> cli.ExtraCommand:
    """`breakers` and `faults`: adapters/inbound/cli/resilience.py, on a served orderhex (--url) or here."""
    helps = {"breakers": "circuit breakers: list them, force one open or closed, metrics-only, reset",
             "faults": "injected faults per service: list, set (faults.enabled = true), clear"}

    def configure(parser: Any) -> None:
        from adapters.inbound.cli import resilience

        getattr(resilience, f"configure_{name}")(parser)

    def run(args: Any, _: Any) -> int:
        from adapters.inbound.cli import resilience

        if args.url:
            from adapters.outbound.http.api import ServedApi
            from adapters.outbound.http.resilience import HttpResilience

            if not args.token:
                raise ValidationError("--token", "--url needs the admin token `orderhex serve` printed at start")
            api = ServedApi(args.url, args.token, args.api_key)
            try:
                return int(getattr(resilience, f"run_{name}")(args, HttpResilience(api), sys.stdout))
            finally:
                api.close()
        app = build(args.config)
        try:
            return int(getattr(resilience, f"run_{name}")(args, app.resilience, sys.stdout))
        finally:
            app.close()

    return cli.ExtraCommand(help=helps[name], configure=configure, run=run, needs_app=False)


def _configure_sagas(parser: Any) -> None:
    from adapters.inbound.cli import sagas

    sagas.configure(parser)


def _run_sagas(args: Any, _: Any) -> int:
    """`orderhex sagas`: adapters/inbound/cli/sagas.py, on a served orderhex (--url) or here. `graph`
    draws a definition and opens no store."""
    from adapters.inbound.cli import sagas

    if args.action == "graph":
        from core.orders.sagas import DEFINITIONS
        from core.runtime.saga_operations import SagaOperationsService

        return sagas.run(args, SagaOperationsService(NO_STORE, DEFINITIONS, _no_act), sys.stdout)
    if args.url:
        from adapters.outbound.http.api import ServedApi
        from adapters.outbound.http.sagas import HttpSagaOperations

        if not args.token:
            raise ValidationError("--token", "--url needs the admin token `orderhex serve` printed at start")
        api = ServedApi(args.url, args.token, args.api_key)
        try:
            return sagas.run(args, HttpSagaOperations(api), sys.stdout)
        finally:
            api.close()
    app = build(args.config)
    try:
        if app.saga_operations is None:
            raise ValidationError("deployment.services", "sagas live in the orders store: run this where orders runs, "
                                                         "or pass --url of the orderhex that runs it")
        return sagas.run(args, app.saga_operations, sys.stdout)
    finally:
        app.close()


class _NoStore:
    """Stands for the store of a SagaOperations that only draws definitions."""

    @property
    def sagas(self) -> Any:
        raise ValidationError("storage", "this command reads no store")


NO_STORE: Any = _NoStore()


def _no_act(saga_id: str, operator: Any) -> None:
    raise ValidationError("storage", "this command acts on no saga")


def build(config_path: str | None, overrides: Mapping[str, Any] | None = None) -> Application:
    return Application(load_from(config_path, overrides))


def describe_config(config_path: str | None) -> list[tuple[str, Any, str]]:
    config = load_from(config_path)
    return [(key, config.values[key], config.sources[key]) for key in SETTINGS]


# ---------------------------------------------------------------------------------------------
# Process roles: the subcommands that run more than one command. Each imports what it runs.


def relay_worker(app: Any, service: str | None = None) -> RelayWorker:
    """The outbox relay of one service's store (default: the first this process runs), not started."""
    from adapters.inbound.workers import roles

    return roles.relay_worker(app, service)


def relay_group(app: Any) -> RelayGroup:
    """One relay per store of this process, not started."""
    from adapters.inbound.workers import roles

    return roles.relay_group(app)


def start_relay(app: Any) -> RelayGroup:
    """Run the relay in a background thread of this process (the dashboard); Control sees it."""
    from adapters.inbound.workers import roles

    return roles.start_relay(app)


def command_intake(app: Any) -> CommandIntake:
    """The Kafka command intake over the app (not started)."""
    from adapters.inbound.workers import roles

    return roles.command_intake(app)


def _run_db_command(args: Any, _app: Any) -> int:
    # Without an Application: opening the store is what a schema check would refuse.
    from adapters.outbound.sql import db_command
    from adapters.outbound.sql.engine import target_for

    config = load_from(args.config)
    target = target_for(config["storage.adapter"], config.data_dir, config["storage.url"],
                        busy_timeout_ms=config["storage.busy_timeout_ms"],
                        connect_timeout_s=config["storage.connect_timeout_s"])
    return db_command.run(args, target)


def _configure_db(parser: Any) -> None:
    from adapters.outbound.sql import db_command

    db_command.configure(parser)


def _run_serve(args: Any, _: Any) -> int:
    from adapters.inbound.workers.roles import SERVE_WORKERS

    overrides = {"deployment.services": ",".join(args.service)} if args.service else None
    app = build(args.config, overrides)
    try:
        seed_if_empty(app)
        return rest_command.run(args, app, workers=SERVE_WORKERS)
    finally:
        app.close()


def _configure_relay(parser: Any) -> None:
    from adapters.inbound.workers import commands

    commands.configure_relay(parser)


def _run_relay(args: Any, app: Any) -> int:
    from adapters.inbound.workers import commands

    return commands.run_relay(args, app, build=relay_group)


def _configure_consume(parser: Any) -> None:
    from adapters.inbound.workers import commands

    commands.configure_consume(parser)


def _run_consume(args: Any, app: Any) -> int:
    from adapters.inbound.workers import commands

    return commands.run_consume(args, app, build=command_intake)


def _run_broker_command(args: Any, _app: Any) -> int:
    from adapters.outbound.kafka import broker_command

    return broker_command.run(args, load_from(args.config).data_dir)


def _configure_broker(parser: Any) -> None:
    from adapters.outbound.kafka import broker_command

    broker_command.configure(parser)


def _run_postgres_command(args: Any, _app: Any) -> int:
    from adapters.outbound.sql import postgres_command

    return postgres_command.run(args, load_from(args.config).data_dir)


def _configure_postgres(parser: Any) -> None:
    from adapters.outbound.sql import postgres_command

    postgres_command.configure(parser)


def open_registry(config: Config) -> Any:
    """The configured ServiceRegistry (adapters/outbound/registry/factory.py)."""
    from adapters.outbound.registry.factory import open_registry as _open

    return _open(config["registry.adapter"], clock=CLOCK_ADAPTERS[config["clock"]](config, None),
                 data_dir=config.data_dir, url=config["registry.url"], static=config["registry.static"],
                 prefix=config["registry.prefix"], timeout=config["registry.timeout_ms"] / 1000)


def _run_registry_command(args: Any, _app: Any) -> int:
    from adapters.outbound.registry import registry_command

    config = load_from(args.config)
    return registry_command.run(args, config.data_dir, lambda: open_registry(config))


def _configure_registry(parser: Any) -> None:
    from adapters.outbound.registry import registry_command

    registry_command.configure(parser)


def breaker_config(config: Config) -> Any:
    """The circuit breakers' settings (breaker.*) as a BreakerConfig."""
    from core.runtime.breaker import BreakerConfig

    return BreakerConfig(
        window=config["breaker.window"], window_size=config["breaker.window_size"],
        minimum_calls=config["breaker.minimum_calls"],
        failure_rate_threshold=config["breaker.failure_rate_percent"] / 100,
        slow_call_duration=config["breaker.slow_call_ms"] / 1000,
        slow_call_rate_threshold=config["breaker.slow_call_rate_percent"] / 100,
        wait_in_open=config["breaker.wait_in_open_ms"] / 1000,
        max_wait_in_open=max(config["breaker.max_wait_in_open_ms"], config["breaker.wait_in_open_ms"]) / 1000)


def _configure_gateway(parser: Any) -> None:
    from adapters.inbound.gateway import command

    command.configure(parser)


def _run_gateway(args: Any, _: Any) -> int:
    """The gateway gets the registry to follow and a prober (health.*) for the instances it lists."""
    from adapters.inbound.gateway import command
    from adapters.outbound.registry.prober import Prober

    config = load_from(args.config)

    def make_prober(board: Any, targets: Any) -> Prober:
        return Prober(board, targets, interval=config["health.interval_ms"] / 1000,
                      timeout=config["health.timeout_ms"] / 1000)

    clock = CLOCK_ADAPTERS[config["clock"]](config, None)
    return command.run(args, config, registry=open_registry(config), clock=clock,
                       breaker_config=breaker_config(config), make_prober=make_prober)


def _configure_sidecar(parser: Any) -> None:
    from adapters.inbound.sidecar import command

    command.configure(parser, tuple(CONTEXTS))


def _run_sidecar(args: Any, _: Any) -> int:
    """The sidecar gets the registry, the heartbeat that keeps its lease, and the service's own
    effective configuration (what `orderhex serve --service X` runs with) for /config."""
    from adapters.inbound.sidecar import command
    from adapters.outbound.registry.heartbeat import Heartbeat

    config = load_from(args.config, {"deployment.services": args.service})
    registry = open_registry(config)
    wiring = command.Wiring(registry=registry, lease_factory=partial(Heartbeat, registry),
                            clock=CLOCK_ADAPTERS[config["clock"]](config, None), config=config,
                            config_rows=[(key, config.values[key], config.sources[key]) for key in SETTINGS])
    return command.run(args, wiring)


def _context_command(name: str) -> cli.ExtraCommand:
    """`stock`, `accounts`, `shipments` and `seed`: adapters/inbound/cli/contexts.py."""
    helps = {"stock": "inventory: restock a SKU, show or list stock",
             "accounts": "payments: open a customer's credit account, or show it",
             "shipments": "shipping: show or dispatch an order's shipment",
             "seed": "put demo stock and credit accounts in (what is there already stays)"}

    def configure(parser: Any) -> None:
        from adapters.inbound.cli import contexts

        getattr(contexts, f"configure_{name}")(parser)

    def run(args: Any, app: Any) -> int:
        from adapters.inbound.cli import contexts

        result: int = getattr(contexts, f"run_{name}")(args, app)
        return result

    return cli.ExtraCommand(help=helps[name], configure=configure, run=run)


def _run_outbox(args: Any, app: Any) -> int:
    from adapters.inbound.cli import outbox

    return outbox.run(args, app)


def _configure_outbox(parser: Any) -> None:
    from adapters.inbound.cli import outbox

    outbox.configure(parser)


def _run_up(args: Any, _: Any) -> int:
    from adapters.inbound.up import command

    return command.run(args, load_from(args.config))


def _configure_up(parser: Any) -> None:
    from adapters.inbound.up import command

    command.configure(parser)


def seed_if_empty(app: Application) -> None:
    """Demo stock and accounts in a fresh data directory, so a first order goes through end to end:
    each service this process runs seeds its own store when that has none."""
    if not app.config["demo.seed"]:
        return
    from adapters.inbound.cli.contexts import seed
    from core.inventory.queries import ListStock
    from core.payments.queries import ListAccounts

    inventory = app.inventory if "inventory" in app.services else None
    payments = app.payments if "payments" in app.services else None
    seed(inventory if inventory is not None and not inventory.list_stock(ListStock(limit=1)).items else None,
         payments if payments is not None and not payments.list_accounts(ListAccounts(limit=1)).items else None)


def open_instances(config: Config) -> Any:
    """The registry's instances for the dashboard's Services panel (None with the in-memory registry,
    which holds only this process's): their sidecars answer for health and lease and take drain and
    stop with the admin token; the gateway's /metrics gives requests per second."""
    if config["registry.adapter"] == "memory":
        return None
    import time

    from adapters.inbound.sidecar.agent import HttpSidecarAgent, gateway_traffic
    from core.runtime.instances import RegistryInstances

    metrics = f"http://{config['gateway.host']}:{config['gateway.port']}/metrics"
    return RegistryInstances(open_registry(config), HttpSidecarAgent(config["api.admin_token"]),
                             traffic=partial(gateway_traffic, metrics), monotonic=time.monotonic)


def local_overviews(app: Application) -> Any:
    """The Overviews port over this process's overview aggregator; None where orders does not run."""
    from adapters.outbound.inprocess.overview import LocalOverviews

    overviews = app.resilience_kit.overviews
    return None if overviews is None else LocalOverviews(overviews)


def run_dashboard(args: Any, _: Any) -> int:
    """In-process: this process's application with its relay running; --attach: a served one over HTTP."""
    if args.attach:
        from adapters.outbound.http.remote import RemoteService

        if not args.token:
            raise ValidationError("--token", "attach mode needs the admin token `orderhex serve` printed at start")
        remote = RemoteService(args.attach, args.token, args.api_key)
        try:
            from adapters.outbound.http.overview import HttpOverviews
            from adapters.outbound.http.sagas import HttpSagaOperations

            return dashboard_command.run_app(remote.ordering, remote.control, source=f"attached to {args.attach}",
                                             resilience=remote.resilience, sagas=HttpSagaOperations(remote.api),
                                             overviews=HttpOverviews(remote.api),
                                             instances=open_instances(load_from(args.config)))
        finally:
            remote.close()
    app = build(args.config)
    relay, notice = None, None
    try:
        seed_if_empty(app)
        relay = start_relay(app)
    except (DomainError, Unavailable) as exc:  # e.g. another relay holds this store: the dashboard still opens
        notice = f"the outbox relay did not start here: {exc}"
    # The services' consumers and the saga workers, as `serve` runs them: without them a saga
    # started here would wait for replies no one sends (on the in-process broker, only this
    # process can carry them).
    workers = _start_dashboard_workers(app)
    # The documents the Services panel shows, of the services this process runs.
    readable = {name: getattr(app, name) for name in ("inventory", "payments", "shipping") if name in app.services}
    try:
        return dashboard_command.run_app(app.ordering, app.control, notice=notice, resilience=app.resilience,
                                         sagas=app.saga_operations, instances=open_instances(app.config),
                                         overviews=local_overviews(app),
                                         source=f"in-process · data in {app.config.data_dir}", **readable)
    finally:
        for worker in reversed(workers):
            worker.stop(5.0)
        if relay is not None:
            relay.stop()
        app.close()


def _start_dashboard_workers(app: Application) -> list[Any]:
    from adapters.inbound.workers.roles import serve_consumers, serve_sagas

    started = []
    for role in (serve_consumers, serve_sagas):
        worker = role(app)
        if worker is not None:
            worker.start()
            started.append(worker)
    return started


# The CLI configures a subcommand's arguments only when that subcommand is used, so neither
# `configure` nor `run` below imports anything before then.
EXTRA_COMMANDS: dict[str, cli.ExtraCommand] = {
    "db": cli.ExtraCommand(help="the SQL store's schema: `upgrade` it to this orderhex, or show the `current` "
                                "revision", configure=_configure_db, run=_run_db_command, needs_app=False),
    "serve": cli.ExtraCommand(help=rest_command.HELP, configure=rest_command.configure, run=_run_serve,
                              needs_app=False),
    "relay": cli.ExtraCommand(help="publish the outbox to the broker until SIGTERM/SIGINT",
                              configure=_configure_relay, run=_run_relay),
    "consume": cli.ExtraCommand(help="handle PlaceOrder/CancelOrder commands from the commands topic until "
                                     "SIGTERM/SIGINT", configure=_configure_consume, run=_run_consume),
    "broker": cli.ExtraCommand(help="the embedded Kafka-compatible broker (Tansu): its status, or stop it",
                               configure=_configure_broker, run=_run_broker_command, needs_app=False),
    "postgres": cli.ExtraCommand(help="the embedded PostgreSQL server: its status, or stop it",
                                 configure=_configure_postgres, run=_run_postgres_command, needs_app=False),
    "registry": cli.ExtraCommand(help="the service registry: `list` its instances, or the embedded etcd's "
                                      "`status`, `stop` it, `run` it", configure=_configure_registry,
                                 run=_run_registry_command, needs_app=False),
    **{name: _context_command(name) for name in ("stock", "accounts", "shipments", "seed")},
    "outbox": cli.ExtraCommand(help="the outbox rows the broker refused: list them (`parked`), `retry` or `drop` one",
                               configure=_configure_outbox, run=_run_outbox),
    "up": cli.ExtraCommand(help="run the Procfile's topology (broker, one process per service) until Ctrl-C",
                           configure=_configure_up, run=_run_up, needs_app=False),
    "gateway": cli.ExtraCommand(help="the API gateway: routes, authenticates, rate-limits and balances requests "
                                     "over the services' instances from the registry", configure=_configure_gateway,
                                run=_run_gateway, needs_app=False),
    "sidecar": cli.ExtraCommand(help="run beside one service instance: registration while healthy, API key, "
                                     "access log, metrics, /config; proxies to it", configure=_configure_sidecar,
                                run=_run_sidecar, needs_app=False),
    **{name: _resilience_command(name) for name in ("breakers", "faults")},
    "sagas": cli.ExtraCommand(help="running sagas: list, show, retry, skip, compensate, pause, resume; graph a "
                                   "definition as Mermaid", configure=_configure_sagas, run=_run_sagas,
                              needs_app=False),
    "dashboard": cli.ExtraCommand(help=dashboard_command.HELP, configure=dashboard_command.configure,
                                  run=run_dashboard, needs_app=False),
}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return cli.run(list(sys.argv[1:] if argv is None else argv), build=build, describe_config=describe_config,
                       extra=EXTRA_COMMANDS)
    except ConfigError as exc:
        print(f"orderhex: {exc}", file=sys.stderr)
        return 2
    except (DomainError, Unavailable) as exc:
        print(f"orderhex: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
