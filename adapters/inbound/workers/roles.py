"""What a process runs beside its doors: the outbox relay and the Kafka command intake, built
from a running application (the composition root's) and its configuration."""

from __future__ import annotations

import time
from datetime import timedelta
from functools import partial
from typing import Any, Protocol

from adapters.inbound.kafka.intake import CommandIntake, IntakeSettings
from adapters.inbound.workers.intake_trace import traced
from adapters.inbound.workers.relay import RelayWorker
from adapters.inbound.workers.relay_lock import RelayLock
from adapters.inbound.workers.thread import ThreadWorker
from core.runtime.operations import Operations
from core.runtime.relay import OutboxRelay, RelayLoop, RelaySettings
from core.runtime.service import Service
from ports.messaging import Messaging
from ports.orders import Ordering
from ports.storage import Storage
from ports.system import Clock, EventFeed

# Stores where two relays would publish the same rows: one relay per store, enforced by a lock file.
SINGLE_RELAY_STORAGE = ("sqlite", "file")


class Running(Protocol):
    """What the roles need of a running application."""

    config: Any
    storage: Storage
    messaging: Messaging
    feed: EventFeed
    clock: Clock
    orders: Service
    ordering: Ordering
    operations: Operations
    switchboard: Any


def relay_worker(app: Running) -> RelayWorker:
    """The outbox relay over the app's active store and broker (not started)."""
    config = app.config
    settings = RelaySettings(
        topic=config["messaging.events_topic"], batch_size=config["relay.batch_size"],
        idle_wait=config["relay.idle_ms"] / 1000, backoff_max=config["relay.max_backoff_ms"] / 1000,
        retention=timedelta(seconds=config["relay.retention_seconds"]),
        report_every=timedelta(milliseconds=config["relay.report_ms"]),
    )
    relay = OutboxRelay(storage=app.storage, messaging=app.messaging, settings=settings, feed=app.feed,
                        now=app.clock.now)
    adapter = config["storage.adapter"]
    lock = (RelayLock(config.data_dir / f"relay-{adapter}.lock", app.storage.describe())
            if adapter in SINGLE_RELAY_STORAGE else None)
    return RelayWorker(RelayLoop(relay, time.monotonic), lock, interrupt=partial(interrupt_publish, app.switchboard))


def interrupt_publish(switchboard: Any) -> None:
    """Interrupt the publish in flight of the messaging adapter open now, if it can be."""
    if ("messaging", switchboard.active("messaging")) not in switchboard.in_use():
        return  # not open: nothing in flight (and opening it now could wait for a broker)
    interrupt = getattr(switchboard.get("messaging"), "interrupt", None)
    if interrupt is not None:
        interrupt()


def serve_relay(app: Running) -> RelayWorker:
    """The relay as this application's own (not started): the admin API, metrics and Control see it."""
    worker = relay_worker(app)
    app.operations.attach_relay(worker)
    return worker


def start_relay(app: Running) -> RelayWorker:
    """Run the relay in a background thread of this process (the dashboard); Control sees it."""
    worker = serve_relay(app)
    worker.start()
    return worker


def command_intake(app: Running) -> CommandIntake:
    config = app.config
    settings = IntakeSettings(topic=config["messaging.commands_topic"],
                              dead_letter_topic=config["messaging.dead_letter_topic"],
                              group=config["messaging.consumer_group"])
    group_commit = app.orders.group_commit() if config["intake.group_commit"] else None
    # Traced: each command's outcome is logged and counted, its handling logged with its ids.
    messaging, ordering = traced(app.messaging, app.ordering, settings.dead_letter_topic)
    return CommandIntake(messaging=messaging, ordering=ordering, settings=settings, feed=app.feed,
                         now=app.clock.now, group_commit=group_commit)


def serve_intake(app: Running) -> ThreadWorker | None:
    if app.config["messaging.adapter"] != "kafka" or not app.config["api.kafka_intake"]:
        return None
    return ThreadWorker(command_intake(app).run, "kafka-command-intake",
                        interrupt=partial(interrupt_publish, app.switchboard))


# Stopped in reverse: the intake stops taking commands before the relay publishes its last batch.
SERVE_WORKERS = (serve_relay, serve_intake)
