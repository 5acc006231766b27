"""The composition root: configuration -> containers -> a running process.

Here and only here are implementations chosen: the adapters each port may use (the registry),
the settings table, a root container composing one container per bounded context, what each
process role runs, and the `orderhex` console script.
"""

from __future__ import annotations

import operator
import sys
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from dependency_injector import containers, providers

from adapters.inbound.cli import main as cli
from adapters.inbound.cli.settings import Config, ConfigError, Setting
from adapters.inbound.cli.settings import load_config as _load_config
from adapters.inbound.cli.settings import load_from as _load_from
from adapters.inbound.rest import command as rest_command
from adapters.inbound.workers import commands as worker_commands
from adapters.inbound.workers.roles import SERVE_WORKERS, command_intake, relay_worker, start_relay
from adapters.outbound.file.storage import FileStorage
from adapters.outbound.kafka.factory import open_kafka
from adapters.outbound.memory.determinism import SequentialIds, SteppingClock
from adapters.outbound.memory.feed import RingBufferFeed
from adapters.outbound.memory.messaging import MemoryMessaging
from adapters.outbound.memory.storage import MemoryStorage
from adapters.outbound.sql import db_command
from adapters.outbound.sql.engine import target_for
from adapters.outbound.sql.storage import open_sql_storage
from adapters.outbound.system.clock import SystemClock
from adapters.outbound.system.ids import Uuid7Ids
from core.kernel.errors import DomainError, Unavailable, ValidationError
from core.orders.service import CONTEXT as ORDERS
from core.orders.service import OrderingService
from core.runtime.context import Context
from core.runtime.operations import Operations
from core.runtime.service import Service
from core.runtime.switchboard import Slot, Switchboard
from tui import command as dashboard_command

__all__ = ["ConfigError", "command_intake", "relay_worker", "start_relay"]

# ---------------------------------------------------------------------------------------------
# The registry: which adapters exist for which port. Contract suites parametrize over it.
# Each factory takes the effective configuration and the feed.

AdapterFactory = Callable[[Config, Any], Any]


def _sql(adapter: str, config: Config, feed: Any) -> Any:
    return open_sql_storage(adapter, config.data_dir, config["storage.url"], mode=config["storage.orders"],
                            snapshot_every=config["storage.snapshot_every"],
                            busy_timeout_ms=config["storage.busy_timeout_ms"],
                            connect_timeout_s=config["storage.connect_timeout_s"])


STORAGE_ADAPTERS: dict[str, AdapterFactory] = {
    "memory": lambda config, feed: MemoryStorage(config["storage.orders"], config["storage.snapshot_every"]),
    "file": lambda config, feed: FileStorage(
        Path(config["storage.file_dir"]).expanduser() if config["storage.file_dir"] else config.data_dir / "files",
        feed=feed, mode=config["storage.orders"], snapshot_every=config["storage.snapshot_every"],
        compact_bytes=config["storage.file_compact_bytes"]),
    "sqlite": partial(_sql, "sqlite"),
    "postgres": partial(_sql, "postgres"),
}
MESSAGING_ADAPTERS: dict[str, AdapterFactory] = {
    "memory": lambda config, feed: MemoryMessaging(),
    "kafka": lambda config, feed: open_kafka(
        bootstrap_servers=config["messaging.bootstrap_servers"], data_dir=config.data_dir,
        topics=(config["messaging.events_topic"], config["messaging.commands_topic"],
                config["messaging.dead_letter_topic"]),
        partitions=config["messaging.partitions"], delivery_timeout_ms=config["messaging.delivery_timeout_ms"],
        session_timeout_ms=config["messaging.session_timeout_ms"],
        heartbeat_interval_ms=config["messaging.heartbeat_interval_ms"]),
}
CLOCK_ADAPTERS: dict[str, AdapterFactory] = {
    "system": lambda config, feed: SystemClock(),
    "stepping": lambda config, feed: SteppingClock(),
}
ID_ADAPTERS: dict[str, AdapterFactory] = {
    "uuid7": lambda config, feed: Uuid7Ids(),
    "sequential": lambda config, feed: SequentialIds("o"),
}
FEED_ADAPTERS: dict[str, AdapterFactory] = {
    "ring": lambda config, feed: feed,
}
REGISTRY: dict[str, dict[str, AdapterFactory]] = {
    "storage": STORAGE_ADAPTERS, "messaging": MESSAGING_ADAPTERS, "clock": CLOCK_ADAPTERS, "ids": ID_ADAPTERS,
    "feed": FEED_ADAPTERS,
}
# Ports a person may switch while the service runs (the clock and ids are fixed at start).
SWITCHABLE = ("storage", "messaging")
CONFIG_KEY = {"storage": "storage.adapter", "messaging": "messaging.adapter", "clock": "clock", "ids": "ids",
              "feed": "feed.adapter"}
# The bounded contexts a process can run, by name.
CONTEXTS: dict[str, Context] = {ORDERS.name: ORDERS}

SETTINGS: dict[str, Setting] = {
    "data_dir": Setting("~/.local/share/orderhex", help="where embedded stores keep their files"),
    "clock": Setting("system", tuple(CLOCK_ADAPTERS)),
    "ids": Setting("uuid7", tuple(ID_ADAPTERS)),
    "storage.adapter": Setting("sqlite", tuple(STORAGE_ADAPTERS)),
    "storage.orders": Setting("state", ("state", "events"), help="keep aggregates as their state or their events"),
    "storage.url": Setting("", help='a postgresql:// or sqlite:/// URL, or "embedded"; each SQL adapter uses '
                                    "a URL of its own kind, else its embedded database in data_dir"),
    "storage.busy_timeout_ms": Setting(5000, minimum=0, help="how long a SQLite writer waits for the lock"),
    "storage.connect_timeout_s": Setting(5, minimum=1, help="how long to wait for a PostgreSQL server"),
    "storage.snapshot_every": Setting(50, minimum=1),
    "storage.file_dir": Setting("", help="the file store's directory; empty: <data_dir>/files"),
    "storage.file_compact_bytes": Setting(8 * 1024 * 1024, minimum=1024,
                                          help="the file store snapshots and restarts its journal past this size"),
    "messaging.adapter": Setting("memory", tuple(MESSAGING_ADAPTERS)),
    "messaging.bootstrap_servers": Setting("embedded", help='host:port,... or "embedded" (Tansu in data_dir)'),
    "messaging.events_topic": Setting("orderhex.order-events", help="where the relay publishes domain events"),
    "messaging.commands_topic": Setting("orderhex.order-commands", help="where `orderhex consume` reads commands"),
    "messaging.dead_letter_topic": Setting("orderhex.order-commands.dlq", help="malformed or invalid commands"),
    "messaging.consumer_group": Setting("orderhex-intake", help="the consumer group of `orderhex consume`"),
    "messaging.partitions": Setting(1, minimum=1, help="partitions of topics orderhex creates"),
    "messaging.delivery_timeout_ms": Setting(30_000, minimum=100, help="how long a publish waits for the broker"),
    "messaging.session_timeout_ms": Setting(45_000, minimum=1000, help="consumer group session timeout"),
    "messaging.heartbeat_interval_ms": Setting(3_000, minimum=100, help="consumer group heartbeat interval"),
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
    "api.kafka_intake": Setting(False, help="`orderhex serve` also consumes the commands topic (messaging kafka)"),
    "feed.adapter": Setting("ring", tuple(FEED_ADAPTERS)),
    "feed.capacity": Setting(10_000, minimum=10),
}
load_config = partial(_load_config, SETTINGS)
load_from = partial(_load_from, SETTINGS)

# ---------------------------------------------------------------------------------------------
# The containers.


def _slots(config: Config, feed: Any) -> list[Slot]:
    return [Slot(name=port, factories={name: partial(factory, config, feed) for name, factory in adapters.items()},
                 active=config[CONFIG_KEY[port]], switchable=port in SWITCHABLE)
            for port, adapters in REGISTRY.items()]


def _record_switch(config: Config, port: str, adapter: str) -> None:
    config.set(CONFIG_KEY[port], adapter, "switched at run time")


def _adapter(registry: dict[str, AdapterFactory], key: str, config: Config, feed: Any) -> Any:
    return registry[config[key]](config, feed)


class ContextContainer(containers.DeclarativeContainer):
    """One bounded context as a service: its bus, unit of work and queries over the store slot."""

    context = providers.Dependency(instance_of=Context)
    storage = providers.Dependency()
    feed = providers.Dependency()
    clock = providers.Dependency()
    ids = providers.Dependency()
    events_topic = providers.Dependency(instance_of=str)
    service = providers.Singleton(Service, context, storage=storage, feed=feed, clock=clock, ids=ids,
                                  events_topic=events_topic)


class RootContainer(containers.DeclarativeContainer):
    """A process: the shared system adapters, the switchboard, and the contexts it runs."""

    config = providers.Dependency(instance_of=Config)
    feed = providers.ThreadSafeSingleton(RingBufferFeed, providers.Callable(operator.itemgetter("feed.capacity"),
                                                                            config))
    clock = providers.ThreadSafeSingleton(_adapter, CLOCK_ADAPTERS, "clock", config, feed)
    ids = providers.ThreadSafeSingleton(_adapter, ID_ADAPTERS, "ids", config, feed)
    switchboard = providers.ThreadSafeSingleton(
        Switchboard, providers.Callable(_slots, config, feed), feed=feed, clock=clock,
        on_switch=providers.Callable(partial, _record_switch, config))
    storage = providers.Callable(lambda board: board.live("storage"), switchboard)
    messaging = providers.Callable(lambda board: board.live("messaging"), switchboard)
    orders = providers.Container(
        ContextContainer, context=ORDERS, storage=storage, feed=feed, clock=clock, ids=ids,
        events_topic=providers.Callable(operator.itemgetter("messaging.events_topic"), config))
    operations = providers.ThreadSafeSingleton(
        Operations, switchboard=switchboard, feed=feed, services=providers.List(orders.service),
        health_checks=providers.Dict(storage=storage, messaging=messaging))


class Application:
    """The running hexagon: what inbound adapters (CLI, REST, Kafka, dashboard) are handed."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.container = RootContainer(config=config)
        self.feed = self.container.feed()
        self.clock = self.container.clock()
        self.ids = self.container.ids()
        self.switchboard: Switchboard = self.container.switchboard()
        self.storage = self.container.storage()
        self.messaging = self.container.messaging()
        self.orders: Service = self.container.orders.service()
        self.bus = self.orders.bus
        self.ordering = OrderingService(self.orders)
        self.operations: Operations = self.container.operations()
        self.control = self.operations

    @property
    def relay(self) -> Any:
        """The outbox relay worker this process runs (serve, dashboard, relay), if any."""
        return self.operations.relay

    def close(self) -> None:
        """Close every adapter this application opened (and only those: nothing is started here)."""
        self.switchboard.close()


def build(config_path: str | None, overrides: Mapping[str, Any] | None = None) -> Application:
    return Application(load_from(config_path, overrides))


def describe_config(config_path: str | None) -> list[tuple[str, Any, str]]:
    config = load_from(config_path)
    return [(key, config.values[key], config.sources[key]) for key in SETTINGS]


# ---------------------------------------------------------------------------------------------
# Process roles: the subcommands that run more than one command.


def _run_db_command(args: Any, _app: Any) -> int:
    # Without an Application: opening the store is what a schema check would refuse.
    config = load_from(args.config)
    target = target_for(config["storage.adapter"], config.data_dir, config["storage.url"],
                        busy_timeout_ms=config["storage.busy_timeout_ms"],
                        connect_timeout_s=config["storage.connect_timeout_s"])
    return db_command.run(args, target)


def run_dashboard(args: Any, _: Any) -> int:
    """In-process: this process's application with its relay running; --attach: a served one over HTTP."""
    if args.attach:
        from adapters.outbound.http.remote import RemoteService

        if not args.token:
            raise ValidationError("--token", "attach mode needs the admin token `orderhex serve` printed at start")
        remote = RemoteService(args.attach, args.token, args.api_key)
        try:
            return dashboard_command.run_app(remote.ordering, remote.control, source=f"attached to {args.attach}")
        finally:
            remote.close()
    app = build(args.config)
    relay, notice = None, None
    try:
        relay = start_relay(app)
    except (DomainError, Unavailable) as exc:  # e.g. another relay holds this store: the dashboard still opens
        notice = f"the outbox relay did not start here: {exc}"
    try:
        return dashboard_command.run_app(app.ordering, app.control, notice=notice,
                                         source=f"in-process · data in {app.config.data_dir}")
    finally:
        if relay is not None:
            relay.stop()
        app.close()


EXTRA_COMMANDS: dict[str, cli.ExtraCommand] = {
    "db": cli.ExtraCommand(help=db_command.HELP, configure=db_command.configure, run=_run_db_command,
                           needs_app=False),
    "serve": cli.ExtraCommand(help=rest_command.HELP, configure=rest_command.configure,
                              run=partial(rest_command.run, workers=SERVE_WORKERS)),
    "relay": cli.ExtraCommand(help="publish the outbox to the broker until SIGTERM/SIGINT",
                              configure=worker_commands.configure_relay,
                              run=partial(worker_commands.run_relay, build=relay_worker)),
    "consume": cli.ExtraCommand(help="handle PlaceOrder/CancelOrder commands from the commands topic until "
                                     "SIGTERM/SIGINT", configure=worker_commands.configure_consume,
                                run=partial(worker_commands.run_consume, build=command_intake)),
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
