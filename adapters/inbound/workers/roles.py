"""What a process runs beside its doors: the outbox relay, the Kafka command intake, the services'
consumers and, in orchestration mode, the orders saga's replies consumer and timer worker, built
from a running application (the composition root's) and its configuration."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any, Protocol

from adapters.inbound.kafka.consumer import ConsumerSettings, ContextConsumer
from adapters.inbound.kafka.intake import CommandIntake, IntakeSettings
from adapters.inbound.workers.intake_trace import traced
from adapters.inbound.workers.relay import RelayGroup, RelayWorker
from adapters.inbound.workers.relay_lock import RelayLock
from adapters.inbound.workers.saga_timers import SagaTimerWorker
from adapters.inbound.workers.thread import ThreadWorker, WorkerGroup
from core.runtime.context import Topics
from core.runtime.faults import FaultDecision
from core.runtime.operations import Operations
from core.runtime.relay import OutboxRelay, RelayLoop, RelaySettings
from core.runtime.service import Service
from ports.messaging import Messaging
from ports.orders import Ordering
from ports.system import Clock, EventFeed

# Stores where two relays would publish the same rows: one relay per store, enforced by a lock file
# beside the store. Only they are opened to find it: another store opens at the relay's first round.
SINGLE_RELAY_STORAGE = ("sqlite", "file")


class Running(Protocol):
    """What the roles need of a running application."""

    config: Any
    messaging: Messaging
    feed: EventFeed
    clock: Clock
    orders: Service
    services: dict[str, Service]
    ordering: Ordering
    operations: Operations
    switchboard: Any
    saga_runner: Any  # a SagaRunner in orchestration mode when the process runs orders, else None
    flow_tracker: Any  # a FlowTracker in choreography mode when the process runs orders, else None

    def storage_slot(self, service: str) -> str: ...

    def topics(self, service: str) -> Topics: ...

    def saga_topics(self) -> tuple[str, str]: ...

    def saga_faults(self) -> Callable[[str], FaultDecision] | None: ...


def relay_worker(app: Running, service: str | None = None) -> RelayWorker:
    """The outbox relay of one service's store (default: the first service's), not started."""
    name = service or next(iter(app.services))
    config = app.config
    storage = app.services[name].storage
    settings = RelaySettings(
        # Rows name their topic; rows written before they did are the orders service's events.
        topic=app.topics("orders").events, batch_size=config["relay.batch_size"],
        idle_wait=config["relay.idle_ms"] / 1000, backoff_max=config["relay.max_backoff_ms"] / 1000,
        retention=timedelta(seconds=config["relay.retention_seconds"]),
        report_every=timedelta(milliseconds=config["relay.report_ms"]),
    )
    relay = OutboxRelay(storage=storage, messaging=app.messaging, settings=settings, feed=app.feed,
                        now=app.clock.now)
    adapter = app.switchboard.active(app.storage_slot(name))
    lock = RelayLock.beside(storage.outbox, storage.describe()) if adapter in SINGLE_RELAY_STORAGE else None
    return RelayWorker(RelayLoop(relay, time.monotonic), lock, interrupt=partial(interrupt_publish, app.switchboard))


def relay_group(app: Running, *, leave_held_stores: bool = False) -> RelayGroup:
    """One relay per store of this process: a store per service, or the one they share."""
    firsts: dict[str, str] = {}
    for name in app.services:
        firsts.setdefault(app.storage_slot(name), name)
    return RelayGroup([relay_worker(app, name) for name in firsts.values()], leave_held_stores=leave_held_stores)


def interrupt_publish(switchboard: Any) -> None:
    """Interrupt the publish in flight of the messaging adapter open now, if it can be."""
    if ("messaging", switchboard.active("messaging")) not in switchboard.in_use():
        return  # not open: nothing in flight (and opening it now could wait for a broker)
    interrupt = getattr(switchboard.get("messaging"), "interrupt", None)
    if interrupt is not None:
        interrupt()


def serve_relay(app: Running) -> RelayGroup:
    """The relays as this application's own (not started): the admin API, metrics and Control see
    them. A store another instance of the service already relays is left to that instance."""
    group = relay_group(app, leave_held_stores=True)
    app.operations.attach_relay(group)
    return group


def start_relay(app: Running) -> RelayGroup:
    """Run the relays in background threads of this process (the dashboard); Control sees them.
    Raises Unavailable when another process already relays one of its stores."""
    group = relay_group(app)
    app.operations.attach_relay(group)
    group.start()
    return group


def command_intake(app: Running) -> CommandIntake:
    """The orders service's Kafka command intake (`orderhex consume`, and `serve` with api.kafka_intake)."""
    config = app.config
    orders = app.topics("orders")
    settings = IntakeSettings(topic=orders.commands, dead_letter_topic=orders.dead_letters,
                              group=f"{config['messaging.topic_prefix']}.orders",
                              max_message_bytes=config["messaging.max_message_bytes"])
    group_commit = app.orders.group_commit() if config["intake.group_commit"] else None
    # Traced: each command's outcome is logged and counted, its handling logged with its ids.
    messaging, ordering = traced(app.messaging, app.ordering, settings.dead_letter_topic)
    return CommandIntake(messaging=messaging, ordering=ordering, settings=settings, feed=app.feed,
                         now=app.clock.now, group_commit=group_commit)


def context_consumer(app: Running, service: str) -> ContextConsumer:
    """A service's consumer: its commands topic and the events of the services it follows."""
    own = app.topics(service)
    context = app.services[service].context
    settings = ConsumerSettings(commands_topic=own.commands, dead_letter_topic=own.dead_letters,
                                event_topics=tuple(app.topics(other).events for other in context.subscriptions),
                                group=f"{app.config['messaging.topic_prefix']}.{service}",
                                max_message_bytes=app.config["messaging.max_message_bytes"])
    return ContextConsumer(service=app.services[service], messaging=app.messaging, settings=settings,
                           faults=app.saga_faults())


def saga_consumer(app: Running) -> ContextConsumer:
    """The orders saga's consumer: the replies of its participants, and the commands its sagas send
    orders itself (approve at the pivot, reject at the end), on their own topic."""
    replies, commands = app.saga_topics()
    orders = app.topics("orders")
    settings = ConsumerSettings(commands_topic=commands, dead_letter_topic=orders.dead_letters, event_topics=(),
                                replies_topic=replies, group=f"{app.config['messaging.topic_prefix']}.orders.sagas",
                                max_message_bytes=app.config["messaging.max_message_bytes"],
                                reply_lanes=app.config["saga.reply_lanes"])
    return ContextConsumer(service=app.services["orders"], messaging=app.messaging, settings=settings,
                           sagas=app.saga_runner)


def flow_consumer(app: Running) -> ContextConsumer:
    """Choreography: orders following its participants' events (stock reserved, payment authorized,
    shipment scheduled, and their failures and undos) to move each order's flow."""
    commands = app.saga_topics()[1]
    orders = app.topics("orders")
    context = app.services["orders"].context
    # Its commands topic is the saga one, which nothing writes in choreography: the orders
    # commands topic belongs to the intake.
    settings = ConsumerSettings(commands_topic=commands, dead_letter_topic=orders.dead_letters,
                                event_topics=tuple(app.topics(other).events for other in context.subscriptions),
                                group=f"{app.config['messaging.topic_prefix']}.orders.flows",
                                max_message_bytes=app.config["messaging.max_message_bytes"])
    return ContextConsumer(service=app.services["orders"], messaging=app.messaging, settings=settings)


def saga_timer_worker(app: Running) -> SagaTimerWorker:
    """The orders saga's timer worker (deadlines and retries; in choreography the flows' sweeper), not started."""
    orders = app.services["orders"]
    adapter = app.switchboard.active(app.storage_slot("orders"))
    lock = SagaTimerWorker.lock_beside(orders.storage) if adapter in SINGLE_RELAY_STORAGE else None
    return SagaTimerWorker(runner=app.saga_runner or app.flow_tracker, storage=orders.storage,
                           unit_of_work=orders.unit_of_work, now=app.clock.now, batch=app.config["saga.timer_batch"],
                           idle=app.config["saga.timer_idle_ms"] / 1000, lock=lock)


def serve_sagas(app: Running) -> WorkerGroup | None:
    """In the process that runs orders: the saga replies consumer (orchestration) or the flow
    consumer (choreography), and the timer worker."""
    if app.saga_runner is not None:
        consumer, name = saga_consumer(app), "orders-saga-consumer"
    elif app.flow_tracker is not None:
        consumer, name = flow_consumer(app), "orders-flow-consumer"
    else:
        return None
    workers = [ThreadWorker(consumer.run, name, interrupt=partial(interrupt_publish, app.switchboard)),
               ThreadWorker(saga_timer_worker(app).run, "orders-saga-timers")]
    return WorkerGroup(workers, "orders-sagas")


def serve_intake(app: Running) -> ThreadWorker | None:
    if "orders" not in app.services or app.config["messaging.adapter"] != "kafka" \
            or not app.config["api.kafka_intake"]:
        return None
    return ThreadWorker(command_intake(app).run, "kafka-command-intake",
                        interrupt=partial(interrupt_publish, app.switchboard))


def serve_consumers(app: Running) -> WorkerGroup | None:
    """The consumers of the services other than orders (whose commands topic has its own intake):
    they carry commands and events between services, on Kafka or on the in-process broker."""
    workers = [ThreadWorker(context_consumer(app, name).run, f"{name}-consumer",
                            interrupt=partial(interrupt_publish, app.switchboard))
               for name in app.services if name != "orders"]
    return WorkerGroup(workers, "service-consumers") if workers else None


# Stopped in reverse: consumers stop taking messages before the relays publish their last batch.
SERVE_WORKERS = (serve_relay, serve_consumers, serve_sagas, serve_intake)
