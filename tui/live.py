"""Keeping the dashboard live without ever touching a widget from another thread.

The feed calls `FeedBuffer.push` on whatever thread published the event (a command, the relay,
an HTTP stream). `LivePump.run`, in a thread worker, drains that buffer every tick into one
FeedBatch message (so a burst costs the UI one message per tick) and re-reads the views the
events made stale, posting snapshots. The UI thread only ever receives messages.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from textual.message import Message

from core.kernel.feed import FeedEvent, FeedKind
from core.orders.model import OrderStatus
from core.orders.queries import ListOrders
from ports.control import Control
from ports.orders import Ordering
from tui.messages import (
    ConnectionChanged,
    FeedBatch,
    OrdersSnapshot,
    OutboxSnapshot,
    PortsSnapshot,
    ServicesSnapshot,
)

FEED_TICK = 0.1
# Refreshes caused by events are throttled to this interval: under load the tables redraw a
# few times a second instead of once per event.
REFRESH_EVERY = 0.3
ORDERS_SHOWN = 100
OUTBOX_ROWS_SHOWN = 40
BACKLOG = 500

# An error (a store failing, a dead letter) may have changed the orders and the outbox. The ports
# are read again only when an adapter changed: reading them checks every component's health,
# which can take seconds while a broker is down.
_ORDER_KINDS = frozenset({FeedKind.COMMAND, FeedKind.DOMAIN_EVENT, FeedKind.ADAPTER_SWITCHED, FeedKind.ERROR})
_OUTBOX_KINDS = frozenset({FeedKind.DOMAIN_EVENT, FeedKind.OUTBOX_PUBLISHED,
                           FeedKind.RELAY_LAG, FeedKind.ADAPTER_SWITCHED, FeedKind.ERROR})
# The services' rows show their outboxes and stores, and their documents follow their commands.
_SERVICE_KINDS = _OUTBOX_KINDS | {FeedKind.COMMAND}
VIEWS = ("orders", "outbox", "ports", "services")


def restarted(event: FeedEvent) -> bool:
    """The application the feed follows started again (an attached server's feed says so with the
    new `boot_id` in the event's data): live switches are gone, every view is stale."""
    return event.kind is FeedKind.ERROR and "boot_id" in event.data


class FeedBuffer:
    """Events from any thread, held until the pump takes them; past `capacity` the oldest drop."""

    def __init__(self, capacity: int = 5000) -> None:
        self._events: deque[FeedEvent] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._dropped = 0

    def push(self, event: FeedEvent) -> None:
        with self._lock:
            if len(self._events) == self._events.maxlen:
                self._dropped += 1
            self._events.append(event)

    def drain(self) -> tuple[list[FeedEvent], int]:
        with self._lock:
            events, dropped = list(self._events), self._dropped
            self._events.clear()
            self._dropped = 0
        return events, dropped


@dataclass(frozen=True)
class OrderFilter:
    status: OrderStatus | None = None
    customer: str | None = None


class LivePump:
    """Turns feed events and periodic reads into messages for the app.

    `poll_interval` re-reads the outbox and the services on a timer too (a lag grows with no event);
    None reads only when events or requests say something changed, which keeps snapshot tests
    deterministic.
    """

    def __init__(self, ordering: Ordering, control: Control, buffer: FeedBuffer,
                 post: Callable[[Message], object], poll_interval: float | None = 1.0) -> None:
        self._ordering = ordering
        self._control = control
        self._buffer = buffer
        self._post = post
        self._poll_interval = poll_interval
        self.order_filter = OrderFilter()
        self._stale: set[str] = set(VIEWS)
        self._stale_lock = threading.Lock()
        self._last_refresh: dict[str, float] = {}
        self._failing: str | None = None

    def request(self, *views: str) -> None:
        """Ask for a fresh read of these views ("orders", "outbox", "ports", "services") on the next tick."""
        with self._stale_lock:
            self._stale.update(views)

    def run(self, cancelled: Callable[[], bool]) -> None:
        """Subscribe, replay the feed's backlog, then tick until `cancelled()`; always unsubscribes."""
        unsubscribe = self._control.subscribe(self._buffer.push)
        try:
            try:
                self._post(FeedBatch(self._control.recent_events(0, BACKLOG)))
            except Exception as exc:  # an unreachable server: the UI says so, the stream retries
                self._report_failure(exc)
            while not cancelled():
                time.sleep(FEED_TICK)
                self.tick(time.monotonic())
        finally:
            unsubscribe()

    def tick(self, now: float) -> None:
        events, dropped = self._buffer.drain()
        if events or dropped:
            self._post(FeedBatch(events, dropped))
        kinds = {event.kind for event in events}
        with self._stale_lock:
            if kinds & _ORDER_KINDS:
                self._stale.add("orders")
            if kinds & _OUTBOX_KINDS:
                self._stale.add("outbox")
            if kinds & _SERVICE_KINDS:
                self._stale.add("services")
            if FeedKind.ADAPTER_SWITCHED in kinds or any(restarted(e) for e in events):
                self._stale.add("ports")
            if self._poll_interval is not None:
                self._stale.update(view for view in ("outbox", "services")
                                   if now - self._last_refresh.get(view, 0) >= self._poll_interval)
            due = {v for v in self._stale if now - self._last_refresh.get(v, float("-inf")) >= REFRESH_EVERY}
            self._stale -= due
        for view in sorted(due):
            self._last_refresh[view] = now
            self._refresh(view)

    def _refresh(self, view: str) -> None:
        try:
            if view == "orders":
                wanted = self.order_filter
                page = self._ordering.list(
                    ListOrders(status=wanted.status, customer_id=wanted.customer, limit=ORDERS_SHOWN))
                self._post(OrdersSnapshot(page))
            elif view == "outbox":
                status = self._control.outbox_status()
                self._post(OutboxSnapshot(status, self._control.recent_outbox(OUTBOX_ROWS_SHOWN)))
            elif view == "services":
                self._post(ServicesSnapshot(self._control.services()))
            else:
                self._post(PortsSnapshot(self._control.ports(), self._control.check_health()))
        except Exception as exc:  # whatever the reason (store closed, server gone), the UI shows it and retries
            with self._stale_lock:
                self._stale.add(view)
            self._report_failure(exc)
            return
        if self._failing is not None:
            # Whatever happened meanwhile (a restart forgets live switches) shows in every view.
            self._failing = None
            self.request(*VIEWS)
            self._post(ConnectionChanged(True, "answering again"))

    def _report_failure(self, exc: Exception) -> None:
        detail = str(exc) or type(exc).__name__
        if detail != self._failing:
            self._failing = detail
            # An adapter that reaches its application but has its credentials refused raises a
            # PermissionError: waiting will not help, a new token will.
            self._post(ConnectionChanged(False, detail, refused=isinstance(exc, PermissionError)))
