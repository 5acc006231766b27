"""The composition root: configuration -> container -> running application.

Everything that chooses an implementation lives here: which adapters exist for which port
(the registry), the dependency-injector container with one Selector per port, the Control
port that switches them live, and the `orderhex` console script.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from dependency_injector import containers, providers

from adapters.inbound.cli import main as cli
from adapters.inbound.kafka.intake import CommandIntake, IntakeSettings
from adapters.inbound.rest import command as rest_command
from adapters.inbound.workers import commands as worker_commands
from adapters.inbound.workers.relay import RelayWorker
from adapters.inbound.workers.relay_lock import RelayLock
from adapters.outbound.file.storage import FileStorage
from adapters.outbound.kafka.factory import open_kafka
from adapters.outbound.memory.determinism import SequentialIds, SteppingClock
from adapters.outbound.memory.feed import RingBufferFeed
from adapters.outbound.memory.messaging import MemoryMessaging
from adapters.outbound.memory.storage import MemoryStorage
from adapters.outbound.sql import db_command
from adapters.outbound.sql.engine import SqlTarget, target_for
from adapters.outbound.sql.storage import open_sql_storage
from adapters.outbound.system.clock import SystemClock
from adapters.outbound.system.ids import Uuid7Ids
from core.runtime.bus import CommandHandler, MessageBus
from core.kernel.envelope import OutboxRecord
from core.kernel.errors import DomainError, Unavailable, ValidationError
from core.kernel.feed import FeedEvent, FeedKind
from core.intake import GroupCommit
from core.kernel.messages import Command, DomainEvent, event_from_dict
from core.orders.handlers import COMMAND_HANDLERS
from core.orders.model import Order
from core.orders.projection import rebuild_from_events, rebuild_from_orders
from core.orders.service import OrderingService
from core.runtime.relay import OutboxRelay, RelayLoop, RelaySettings
from ports.messaging import Messaging
from ports.system import Clock
from ports.control import OutboxStatus, PortInfo
from ports.system import EventFeed
from ports.system import IdGenerator
from ports.storage import Storage
from ports.storage import UnitOfWork
from tui import command as dashboard_command

# ---------------------------------------------------------------------------------------------
# The registry: which adapters exist for which port. Contract suites parametrize over it.
# Each factory takes the effective configuration (a nested dict) and the feed.

AdapterFactory = Callable[["Config", EventFeed], Any]

STORAGE_ADAPTERS: dict[str, AdapterFactory] = {
    "memory": lambda config, feed: MemoryStorage(config["storage.orders"], config["storage.snapshot_every"]),
    "file": lambda config, feed: FileStorage(
        Path(config["storage.file_dir"]).expanduser() if config["storage.file_dir"] else config.data_dir / "files",
        feed=feed, orders=config["storage.orders"], snapshot_every=config["storage.snapshot_every"],
        compact_bytes=config["storage.file_compact_bytes"]),
    "sqlite": lambda config, feed: _sql_storage(config, "sqlite"),
    "postgres": lambda config, feed: _sql_storage(config, "postgres"),
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
    "storage": STORAGE_ADAPTERS,
    "messaging": MESSAGING_ADAPTERS,
    "clock": CLOCK_ADAPTERS,
    "ids": ID_ADAPTERS,
    "feed": FEED_ADAPTERS,
}
# Ports a person may switch while the service runs (the clock and ids are fixed at start).
SWITCHABLE = ("storage", "messaging")
CONFIG_KEY = {"storage": "storage.adapter", "messaging": "messaging.adapter", "clock": "clock", "ids": "ids",
              "feed": "feed.adapter"}

# ---------------------------------------------------------------------------------------------
# Configuration: defaults <- orderhex.toml <- ORDERHEX_* environment variables.


class ConfigError(Exception):
    """A setting with a bad value: names the key, the value, where it came from and what is allowed."""

    def __init__(self, key: str, value: Any, allowed: str, source: str) -> None:
        super().__init__(f"config {key} = {value!r} (from {source}) is not allowed; allowed: {allowed}")
        self.key = key


@dataclass(frozen=True)
class Setting:
    default: Any
    choices: tuple[str, ...] | None = None
    minimum: int | None = None
    help: str = ""

    def parse(self, key: str, value: Any, source: str) -> Any:
        if isinstance(self.default, bool):
            if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
                return value.lower() in ("true", "1")
            if not isinstance(value, bool):
                raise ConfigError(key, value, "true or false", source)
            return value
        if isinstance(self.default, int):
            try:
                number = int(value) if not isinstance(value, bool) else None
            except (TypeError, ValueError):
                number = None
            if number is None or (self.minimum is not None and number < self.minimum):
                raise ConfigError(key, value, f"a whole number >= {self.minimum or 0}", source)
            return number
        if not isinstance(value, str):
            raise ConfigError(key, value, "a string", source)
        if self.choices is not None and value not in self.choices:
            raise ConfigError(key, value, " | ".join(self.choices), source)
        return value


SETTINGS: dict[str, Setting] = {
    "data_dir": Setting("~/.local/share/orderhex", help="where embedded stores keep their files"),
    "clock": Setting("system", tuple(CLOCK_ADAPTERS)),
    "ids": Setting("uuid7", tuple(ID_ADAPTERS)),
    "storage.adapter": Setting("sqlite", tuple(STORAGE_ADAPTERS)),
    "storage.orders": Setting("state", ("state", "events")),
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
    "api.port": Setting(8000, minimum=0),
    "api.admin_token": Setting(""),
    "api.api_key": Setting("", help="when set, order endpoints require it in the X-API-Key header"),
    "api.max_body_bytes": Setting(65_536, minimum=1, help="larger request bodies get 413"),
    "api.shutdown_timeout": Setting(30, minimum=1, help="seconds SIGTERM waits for requests in flight"),
    "api.access_log": Setting(False, help="log one line per HTTP request"),
    "api.kafka_intake": Setting(False, help="`orderhex serve` also consumes the commands topic (messaging kafka)"),
    "feed.adapter": Setting("ring", tuple(FEED_ADAPTERS)),
    "feed.capacity": Setting(10_000, minimum=10),
}
ENV_PREFIX = "ORDERHEX_"
# Variables with this prefix belong to the test suite and tools, not to the service.
ENV_IGNORED_PREFIXES = ("ORDERHEX_TEST_", "ORDERHEX_CONFIG")


@dataclass
class Config:
    """The effective configuration: every setting's value and where it came from."""

    values: dict[str, Any]
    sources: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def nested(self) -> dict[str, Any]:
        tree: dict[str, Any] = {}
        for key, value in self.values.items():
            node = tree
            *parents, leaf = key.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        return tree

    @property
    def data_dir(self) -> Path:
        return Path(self.values["data_dir"]).expanduser()


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None,
                overrides: Mapping[str, Any] | None = None) -> Config:
    """Defaults, then the TOML file, then ORDERHEX_* variables, then explicit overrides."""
    env = os.environ if env is None else env
    config = Config({k: s.default for k, s in SETTINGS.items()}, {k: "default" for k in SETTINGS})
    if path is not None:
        for key, value in _read_toml(path).items():
            _set(config, key, value, f"file {path}")
    for name, value in sorted(env.items()):
        if not name.startswith(ENV_PREFIX) or name.startswith(ENV_IGNORED_PREFIXES):
            continue
        key = name.removeprefix(ENV_PREFIX).lower().replace("__", ".")
        _set(config, key, value, f"env {name}")
    for key, value in (overrides or {}).items():
        _set(config, key, value, "override")
    return config


def _set(config: Config, key: str, value: Any, source: str) -> None:
    setting = SETTINGS.get(key)
    if setting is None:
        raise ConfigError(key, value, "one of " + ", ".join(SETTINGS), source)
    config.values[key] = setting.parse(key, value, source)
    config.sources[key] = source


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError("--config", str(path), "an existing TOML file", "command line") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("--config", str(path), f"valid TOML ({exc})", "command line") from exc
    flat: dict[str, Any] = {}

    def walk(prefix: str, node: Mapping[str, Any]) -> None:
        for key, value in node.items():
            full = f"{prefix}{key}"
            if isinstance(value, Mapping):
                walk(full + ".", value)
            else:
                flat[full] = value

    walk("", data)
    return flat


# ---------------------------------------------------------------------------------------------
# The container: one Selector per port, keyed by the configuration.


def _selector(port: str) -> providers.Selector:
    config_key = providers.Callable(lambda c: c[CONFIG_KEY[port]], Container.settings)
    return providers.Selector(
        config_key,
        **{name: providers.ThreadSafeSingleton(factory, Container.settings, Container.feed)
           for name, factory in REGISTRY[port].items()},
    )


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Config)
    feed = providers.ThreadSafeSingleton(lambda c: RingBufferFeed(c["feed.capacity"]), settings)


Container.storage = _selector("storage")
Container.messaging = _selector("messaging")
Container.clock = _selector("clock")
Container.ids = _selector("ids")


def command_handlers(clock: Clock, ids: IdGenerator) -> dict[type[Command], CommandHandler]:
    """Every command's handler with its dependencies bound: what a bus is built from."""
    return {cmd: partial(handler, now=clock.now, new_id=ids.new_id) for cmd, handler in COMMAND_HANDLERS.items()}


class RelayHandle(Protocol):
    """What Control needs of a running relay worker."""

    running: bool
    paused: bool

    def pause(self) -> None: ...

    def resume(self) -> None: ...


class Application:
    """The running hexagon: what inbound adapters (CLI, REST, Kafka, dashboard) are handed."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.container = Container(settings=config)
        self.feed: EventFeed = self.container.feed()
        self.clock: Clock = self.container.clock()
        self.ids: IdGenerator = self.container.ids()
        self.bus = MessageBus(
            uow_factory=self._unit_of_work,
            command_handlers=command_handlers(self.clock, self.ids),
            event_handlers={},
            feed=self.feed,
            now=self.clock.now,
        )
        self.ordering = OrderingService(self.bus, lambda: self.storage.read_model, self._history)
        self._opened: dict[tuple[str, str], Any] = {}
        self.control = ControlService(self)
        # The outbox relay worker, when this process runs one (serve, dashboard, relay).
        self.relay: RelayHandle | None = None

    @property
    def storage(self) -> Storage:
        storage: Storage = self._provider("storage")
        return storage

    def _unit_of_work(self) -> UnitOfWork:
        # Resolved per command, so a switched storage serves the next command.
        return self.storage.unit_of_work()

    @property
    def messaging(self) -> Messaging:
        messaging: Messaging = self._provider("messaging")
        return messaging

    def _history(self, order_id: str) -> list[DomainEvent]:
        storage = self.storage
        if self.config["storage.orders"] == "events":
            return storage.event_store.read_stream(order_id)
        return [event_from_dict(json.loads(r.payload)) for r in storage.outbox.history(order_id)]

    def close(self) -> None:
        """Close every adapter this application opened (and only those: nothing is started here)."""
        for adapter in self._opened.values():
            adapter.close()

    def _provider(self, port: str) -> Any:
        adapter = getattr(self.container, port)()
        self._opened[(port, self.config[CONFIG_KEY[port]])] = adapter
        return adapter


class ControlService:
    """The Control port: list ports and switch their adapters between commands."""

    def __init__(self, app: Application) -> None:
        self._app = app
        self._lock = threading.Lock()

    def ports(self) -> list[PortInfo]:
        return [
            PortInfo(name=port, active=self._app.config[CONFIG_KEY[port]], available=tuple(REGISTRY[port]),
                     switchable=port in SWITCHABLE)
            for port in sorted(REGISTRY)
        ]

    def switch(self, port: str, adapter: str) -> PortInfo:
        if port not in SWITCHABLE:
            raise ValidationError("port", f"{port!r} cannot be switched; switchable: {', '.join(SWITCHABLE)}")
        if adapter not in REGISTRY[port]:
            raise ValidationError("adapter", f"{adapter!r} is not an adapter of {port}; "
                                             f"available: {', '.join(REGISTRY[port])}")
        key = CONFIG_KEY[port]
        with self._lock:
            old = self._app.config[key]
            if old != adapter:
                old_instance = self._app._provider(port)
                self._app.config.values[key] = adapter
                try:
                    self._app._provider(port)  # start it now so a failure is reported here
                except Exception as exc:
                    self._app.config.values[key] = old
                    raise Unavailable(f"{port} adapter {adapter}", str(exc),
                                      f"{old} stays active; check the {key} settings") from exc
                self._app.config.sources[key] = "switched at run time"
                old_instance.close()
                self._app._opened.pop((port, old), None)
            self._app.feed.publish(FeedEvent(
                kind=FeedKind.ADAPTER_SWITCHED, text=f"{port}: {old} -> {adapter}", at=self._app.clock.now(),
                data={"port": port, "from": old, "to": adapter},
            ))
        return next(p for p in self.ports() if p.name == port)

    def recent_events(self, after_seq: int = 0, limit: int = 1000) -> list[FeedEvent]:
        return self._app.feed.recent(after_seq, limit)

    def subscribe(self, callback: Callable[[FeedEvent], None]) -> Callable[[], None]:
        return self._app.feed.subscribe(callback)

    def outbox_status(self) -> OutboxStatus:
        outbox = self._app.storage.outbox
        oldest = outbox.oldest_pending_at()
        lag = (self._app.clock.now() - oldest).total_seconds() if oldest else None
        relay = self._app.relay
        return OutboxStatus(pending=outbox.pending_count(), lag_seconds=lag,
                            relay_running=relay is not None and relay.running,
                            relay_paused=relay is not None and relay.paused)

    def recent_outbox(self, limit: int = 50) -> list[OutboxRecord]:
        return self._app.storage.outbox.recent(limit)

    def pause_relay(self) -> None:
        if self._app.relay is None:
            raise ValidationError("relay", "no relay runs in this process")
        self._app.relay.pause()

    def resume_relay(self) -> None:
        if self._app.relay is None:
            raise ValidationError("relay", "no relay runs in this process")
        self._app.relay.resume()

    def rebuild_projections(self) -> int:
        storage = self._app.storage
        if self._app.config["storage.orders"] == "events":
            count = rebuild_from_events(storage.read_model, storage.event_store)
        else:
            count = rebuild_from_orders(storage.read_model, storage.order_ids(), partial(_load_order, storage))
        self._app.feed.publish(FeedEvent(kind=FeedKind.COMMAND, text=f"projections rebuilt from {count} items",
                                         at=self._app.clock.now(), data={"command": "RebuildProjections"}))
        return count

    def check_health(self) -> dict[str, str]:
        health: dict[str, str] = {}
        for port in SWITCHABLE:
            try:
                getattr(self._app, port).check()
                health[port] = "ok"
            except Exception as exc:  # health reports every failure, whatever its type
                health[port] = str(exc)
        return health


def _load_order(storage: Storage, order_id: str) -> Order | None:
    with storage.unit_of_work() as uow:
        return uow.orders.get(order_id)


# ---------------------------------------------------------------------------------------------
# The console script.


def load_from(config_path: str | None, overrides: Mapping[str, Any] | None = None) -> Config:
    """The configuration from `--config PATH`, else ORDERHEX_CONFIG, else defaults and environment."""
    path = config_path or os.environ.get("ORDERHEX_CONFIG")
    return load_config(Path(path) if path else None, overrides=overrides)


def build(config_path: str | None, overrides: Mapping[str, Any] | None = None) -> Application:
    return Application(load_from(config_path, overrides))


def describe_config(config_path: str | None) -> list[tuple[str, Any, str]]:
    config = load_from(config_path)
    return [(key, config.values[key], config.sources[key]) for key in SETTINGS]


# Subcommands that need more than the core (servers, workers, the dashboard), by name.
EXTRA_COMMANDS: dict[str, cli.ExtraCommand] = {}


def _sql_target(config: Config, adapter: str) -> SqlTarget | None:
    return target_for(adapter, config.data_dir, config["storage.url"],
                      busy_timeout_ms=config["storage.busy_timeout_ms"],
                      connect_timeout_s=config["storage.connect_timeout_s"])


def _sql_storage(config: Config, adapter: str) -> Any:
    return open_sql_storage(adapter, config.data_dir, config["storage.url"], orders=config["storage.orders"],
                            snapshot_every=config["storage.snapshot_every"],
                            busy_timeout_ms=config["storage.busy_timeout_ms"],
                            connect_timeout_s=config["storage.connect_timeout_s"])


def _run_db_command(args: Any, _app: Any) -> int:
    # Without an Application: opening the store is what a schema check would refuse.
    config = load_from(args.config)
    return db_command.run(args, _sql_target(config, config["storage.adapter"]))


EXTRA_COMMANDS["db"] = cli.ExtraCommand(help=db_command.HELP, configure=db_command.configure, run=_run_db_command,
                                        needs_app=False)

# Workers `orderhex serve` runs beside the HTTP server: each factory takes the Application and
# returns a worker (start(), and stop() that finishes its batch) or None when not configured.
# The outbox relay and the Kafka intake register here.
SERVE_WORKERS: list[Callable[[Application], Any]] = []  # filled below, once the workers are defined
EXTRA_COMMANDS["serve"] = cli.ExtraCommand(
    help=rest_command.HELP, configure=rest_command.configure,
    run=partial(rest_command.run, workers=SERVE_WORKERS),
)

# Stores where two relays would publish the same rows: one relay per store, enforced by a lock file.
SINGLE_RELAY_STORAGE = ("sqlite", "file")


def relay_worker(app: Application) -> RelayWorker:
    """The outbox relay over the app's active store and broker (not started)."""
    config = app.config
    settings = RelaySettings(
        topic=config["messaging.events_topic"], batch_size=config["relay.batch_size"],
        idle_wait=config["relay.idle_ms"] / 1000, backoff_max=config["relay.max_backoff_ms"] / 1000,
        retention=timedelta(seconds=config["relay.retention_seconds"]),
        report_every=timedelta(milliseconds=config["relay.report_ms"]),
    )
    relay = OutboxRelay(outbox=lambda: app.storage.outbox, publisher=lambda: app.messaging.publisher,
                        settings=settings, feed=app.feed, now=app.clock.now)
    adapter = config["storage.adapter"]
    lock = (RelayLock(config.data_dir / f"relay-{adapter}.lock", app.storage.describe())
            if adapter in SINGLE_RELAY_STORAGE else None)
    return RelayWorker(RelayLoop(relay, time.monotonic), lock)


def start_relay(app: Application) -> RelayWorker:
    """Run the relay in a background thread of this process (the dashboard); Control sees it."""
    worker = serve_relay(app)
    worker.start()
    return worker


def command_intake(app: Application) -> CommandIntake:
    config = app.config
    settings = IntakeSettings(topic=config["messaging.commands_topic"],
                              dead_letter_topic=config["messaging.dead_letter_topic"],
                              group=config["messaging.consumer_group"])
    group_commit = _group_commit(app) if config["intake.group_commit"] else None
    return CommandIntake(messaging=lambda: app.messaging, ordering=app.ordering, settings=settings, feed=app.feed,
                         now=app.clock.now, group_commit=group_commit)


def _group_commit(app: Application) -> GroupCommit:
    """A second bus over the same handlers whose unit of work is the current batch's."""
    def ordering_over(unit_of_work: Callable[[], UnitOfWork]) -> OrderingService:
        bus = MessageBus(
            uow_factory=unit_of_work,
            command_handlers=command_handlers(app.clock, app.ids),
            event_handlers={}, feed=app.feed, now=app.clock.now,
        )
        return OrderingService(bus, lambda: app.storage.read_model, app.ordering.history)

    def unit_of_work() -> UnitOfWork:
        # Resolved per batch, so a switched storage serves the next batch.
        return app.storage.unit_of_work()

    return GroupCommit(unit_of_work, ordering_over)


EXTRA_COMMANDS["relay"] = cli.ExtraCommand(
    help="publish the outbox to the broker until SIGTERM/SIGINT", configure=worker_commands.configure_relay,
    run=partial(worker_commands.run_relay, build=relay_worker))
EXTRA_COMMANDS["consume"] = cli.ExtraCommand(
    help="handle PlaceOrder/CancelOrder commands from the commands topic until SIGTERM/SIGINT",
    configure=worker_commands.configure_consume, run=partial(worker_commands.run_consume, build=command_intake))


def serve_relay(app: Application) -> RelayWorker:
    """The relay as this application's own (not started): the admin API, metrics and Control see it."""
    worker = relay_worker(app)
    app.relay = worker  # so the admin API and metrics see and control the relay serve runs
    return worker


def serve_intake(app: Application) -> rest_command.ThreadWorker | None:
    if app.config["messaging.adapter"] != "kafka" or not app.config["api.kafka_intake"]:
        return None
    return rest_command.ThreadWorker(command_intake(app).run, "kafka-command-intake")


# Stopped in reverse: the intake stops taking commands before the relay publishes its last batch.
SERVE_WORKERS.extend([serve_relay, serve_intake])


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
    except DomainError as exc:  # e.g. another relay holds this store: the dashboard still opens
        notice = f"the outbox relay did not start here: {exc}"
    try:
        return dashboard_command.run_app(app.ordering, app.control, notice=notice,
                                         source=f"in-process · data in {app.config.data_dir}")
    finally:
        if relay is not None:
            relay.stop()
        app.close()


EXTRA_COMMANDS["dashboard"] = cli.ExtraCommand(help=dashboard_command.HELP, configure=dashboard_command.configure,
                                               run=run_dashboard, needs_app=False)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return cli.run(list(sys.argv[1:] if argv is None else argv), build=build, describe_config=describe_config,
                       extra=EXTRA_COMMANDS)
    except ConfigError as exc:
        print(f"orderhex: {exc}", file=sys.stderr)
        return 2
    except DomainError as exc:
        print(f"orderhex: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
