"""One orderhex process (the monolith) on the memory broker and memory stores, driven by hand: each
`pump()` publishes every outbox, lets every consumer take what is waiting and fires the timers due
on a clock the test moves. A participant left out of `pump` is silent, as if its process were down."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import bootstrap
from adapters.inbound.kafka.consumer import ContextConsumer
from adapters.inbound.workers import roles
from core.inventory.commands import Restock
from core.inventory.queries import GetReservation, GetStock
from core.orders.commands import LineItem, PlaceOrder
from core.orders.queries import GetOrder, OrderSummary
from core.payments.commands import OpenAccount
from core.payments.queries import GetAccount, GetPayment
from core.shipping.queries import GetShipment
from ports.messaging import Subscriber

PARTICIPANTS = ("inventory", "payments", "shipping")


class ManualClock:
    """The Clock port at a time the test sets: deadlines pass when the test says so."""

    def __init__(self) -> None:
        self._now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta


def stepping_shop(data_dir: Path, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> Shop:
    """A Shop whose clock only the test moves (`shop.clock`)."""
    clock = ManualClock()
    monkeypatch.setitem(bootstrap.CLOCK_ADAPTERS, "stepping", lambda config, feed: clock)
    return Shop(data_dir, clock, **kwargs)


class Shop:
    def __init__(self, data_dir: Path, clock: ManualClock, storage: str = "memory",
                 mode: str = "orchestration", **settings: Any) -> None:
        self.clock = clock
        self.mode = mode
        self.app = bootstrap.build(None, {"data_dir": str(data_dir), "storage.adapter": storage,
                                          "messaging.adapter": "memory", "clock": "stepping", "demo.seed": False,
                                          "saga.mode": mode, **settings})
        assert (self.app.saga_runner if mode == "orchestration" else self.app.flow_tracker) is not None
        self.relays = [worker.loop.relay for worker in roles.relay_group(self.app).workers]
        consumers = {name: roles.context_consumer(self.app, name) for name in PARTICIPANTS}
        orders = roles.saga_consumer if mode == "orchestration" else roles.flow_consumer
        consumers["orders"] = orders(self.app)
        self.consumers: dict[str, tuple[ContextConsumer, Subscriber]] = {}
        for name, consumer in consumers.items():
            consumer.settings = dataclasses.replace(consumer.settings, poll_timeout=0.0)
            self.consumers[name] = (consumer, self.app.messaging.subscriber(consumer.settings.topics,
                                                                            consumer.settings.group))
        self.timers = roles.saga_timer_worker(self.app)

    def close(self) -> None:
        for _, subscriber in self.consumers.values():
            subscriber.close()
        self.app.close()

    def pump(self, silent: Iterable[str] = ()) -> None:
        """Move every message and due timer until nothing moves (participants in `silent` take nothing)."""
        quiet = set(silent)
        for _ in range(200):
            moved = sum(relay.publish_batch() for relay in self.relays)
            for name, (consumer, subscriber) in self.consumers.items():
                if name not in quiet:
                    moved += consumer.consume_batch(subscriber)
            moved += self.timers.tick()
            if not moved:
                return
        raise AssertionError("the shop never settled")

    def wait_past(self, delta: timedelta, silent: Iterable[str] = ()) -> None:
        self.clock.advance(delta)
        self.pump(silent)

    # -- the shop's data ------------------------------------------------------------------------

    def stock(self, sku: str, quantity: int) -> None:
        self.app.inventory.send(Restock(sku=sku, quantity=quantity))

    def account(self, customer_id: str, limit: str) -> None:
        self.app.payments.send(OpenAccount(customer_id=customer_id, credit_limit=Decimal(limit), currency="EUR"))

    def place(self, customer_id: str, sku: str, quantity: int, price: str = "10.00") -> str:
        result = self.app.ordering.send(PlaceOrder(customer_id=customer_id, currency="EUR",
                                                   lines=(LineItem(sku, quantity, Decimal(price)),)))
        return str(result.order_id)

    def order(self, order_id: str) -> OrderSummary:
        return self.app.ordering.get(GetOrder(order_id=order_id))

    def reserved(self, sku: str) -> int:
        return int(self.app.inventory.stock(GetStock(sku=sku)).reserved)

    def reservation(self, order_id: str) -> str:
        return str(self.app.inventory.reservation(GetReservation(order_id=order_id)).status.value)

    def payment(self, order_id: str) -> str:
        return str(self.app.payments.payment(GetPayment(order_id=order_id)).status.value)

    def held(self, customer_id: str) -> Decimal:
        return Decimal(self.app.payments.account(GetAccount(customer_id=customer_id)).held)

    def shipment(self, order_id: str) -> str:
        return str(self.app.shipping.shipment(GetShipment(order_id=order_id)).status.value)

    def saga(self, saga_id: str) -> Any:
        return self.app.orders.storage.sagas.get(saga_id)

    def history(self, saga_id: str) -> list[dict[str, Any]]:
        return [row.entry for row in self.app.orders.storage.sagas.history(saga_id)]
