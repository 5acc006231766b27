"""App-wide messages: the only way data from worker threads reaches widgets.

Snapshot messages replace a queued message of the same type (`can_replace`), so a burst of
refreshes costs the UI one redraw; feed batches never replace each other (each carries events).
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.message import Message

from core.kernel.envelope import OutboxRecord
from core.kernel.feed import FeedEvent
from core.orders.queries import OrderPage
from ports.control import OutboxStatus, PortInfo, ServiceStatus


class FeedBatch(Message):
    """Feed events collected since the last batch, oldest first; `dropped` were lost to the buffer's cap."""

    def __init__(self, events: Sequence[FeedEvent], dropped: int = 0) -> None:
        super().__init__()
        self.events = tuple(events)
        self.dropped = dropped


class _Snapshot(Message):
    def can_replace(self, message: Message) -> bool:
        return type(message) is type(self)


class OrdersSnapshot(_Snapshot):
    """The orders that match the current filter, newest first."""

    def __init__(self, page: OrderPage) -> None:
        super().__init__()
        self.page = page


class OutboxSnapshot(_Snapshot):
    """The outbox's counters and its newest rows (newest first)."""

    def __init__(self, status: OutboxStatus, rows: Sequence[OutboxRecord]) -> None:
        super().__init__()
        self.status = status
        self.rows = tuple(rows)


class PortsSnapshot(_Snapshot):
    """Every port with its adapters, and each component's health."""

    def __init__(self, ports: Sequence[PortInfo], health: dict[str, str]) -> None:
        super().__init__()
        self.ports = tuple(ports)
        self.health = dict(health)


class ServicesSnapshot(_Snapshot):
    """Each service the application runs: its process, store, health and outbox backlog."""

    def __init__(self, services: Sequence[ServiceStatus]) -> None:
        super().__init__()
        self.services = tuple(services)


class ConnectionChanged(_Snapshot):
    """The application stopped (or started again) answering the dashboard's reads. `refused`:
    it answers, but refuses the credentials the dashboard holds (a wrong or outdated token)."""

    def __init__(self, ok: bool, detail: str, *, refused: bool = False) -> None:
        super().__init__()
        self.ok = ok
        self.detail = detail
        self.refused = refused


class SwitchProgress(Message):
    """A live adapter switch started, finished, or failed (`error` set)."""

    def __init__(self, port: str, adapter: str, *, done: bool, error: str | None = None) -> None:
        super().__init__()
        self.port = port
        self.adapter = adapter
        self.done = done
        self.error = error


class LoadProgress(_Snapshot):
    """How far the "load" action got: `placed` of `total`, `failed` refused by the service."""

    def __init__(self, placed: int, failed: int, total: int, *, done: bool) -> None:
        super().__init__()
        self.placed = placed
        self.failed = failed
        self.total = total
        self.done = done

    def can_replace(self, message: Message) -> bool:
        # A newer tick supersedes an older one, but a final report is never swallowed.
        return isinstance(message, LoadProgress) and not self.done
