"""The message bus (mediator): commands to exactly one handler, events to zero or more.

It keeps no per-call state on the instance (the event queue is a local), so one bus serves
many threads at once.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from core.errors import ConcurrencyConflict
from core.feed import FeedEvent, FeedKind
from core.messages import Command, DomainEvent

if TYPE_CHECKING:
    from ports.feed import EventFeed
    from ports.unit_of_work import UnitOfWork, UnitOfWorkFactory

CommandHandler = Callable[[Any, "UnitOfWork"], Any]
EventHandler = Callable[[Any, "UnitOfWork"], None]


class MessageBus:
    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        command_handlers: Mapping[type[Command], CommandHandler],
        event_handlers: Mapping[type[DomainEvent], Sequence[EventHandler]],
        feed: EventFeed,
        now: Callable[[], datetime],
        conflict_retries: int = 3,
    ) -> None:
        self._uow_factory = uow_factory
        self._command_handlers = dict(command_handlers)
        self._event_handlers = {k: tuple(v) for k, v in event_handlers.items()}
        self._feed = feed
        self._now = now
        self._conflict_retries = conflict_retries

    def handle(self, command: Command, *, message_id: str | None = None) -> Any:
        """Run the command's handler, then every handler of the events it caused.

        A ConcurrencyConflict is retried (the handler reloads the aggregate) up to
        `conflict_retries` times, then raised. Any other error propagates at once.
        """
        handler = self._command_handlers.get(type(command))
        if handler is None:
            raise LookupError(f"no handler for command {type(command).__name__}")
        name = type(command).__name__
        started = time.perf_counter()
        for attempt in range(self._conflict_retries + 1):
            uow = self._uow_factory()
            uow.message_id = message_id
            try:
                result = handler(command, uow)
                break
            except ConcurrencyConflict as exc:
                if attempt < self._conflict_retries:
                    continue
                self._report_failure(name, exc, started)
                raise
            except Exception as exc:  # reported whatever it is, so the feed shows every failed command
                self._report_failure(name, exc, started)
                raise
        self._report(FeedKind.COMMAND, f"{name} handled", command=name, outcome="ok",
                     ms=round((time.perf_counter() - started) * 1000, 3))
        self._dispatch_events(uow.collect_new_events())
        return result

    def _dispatch_events(self, events: list[DomainEvent]) -> None:
        queue = deque(events)
        while queue:
            event = queue.popleft()
            self._report(FeedKind.DOMAIN_EVENT, f"{event.type} {event.aggregate_id} v{event.aggregate_version}",
                         type=event.type, aggregate_id=event.aggregate_id, version=event.aggregate_version)
            for handler in self._event_handlers.get(type(event), ()):
                uow = self._uow_factory()
                try:
                    handler(event, uow)
                except Exception as exc:  # one failing reaction must not stop the others
                    self._report(FeedKind.ERROR, f"{_name(handler)} failed on {event.type}: {exc}",
                                 handler=_name(handler), event=event.type, error=type(exc).__name__)
                    continue
                queue.extend(uow.collect_new_events())

    def _report_failure(self, name: str, exc: Exception, started: float) -> None:
        self._report(FeedKind.COMMAND, f"{name} failed: {exc}", command=name, outcome=type(exc).__name__,
                     ms=round((time.perf_counter() - started) * 1000, 3))

    def _report(self, kind: FeedKind, text: str, **data: Any) -> None:
        self._feed.publish(FeedEvent(kind=kind, text=text, at=self._now(), data=data))


def _name(handler: Callable[..., Any]) -> str:
    inner = getattr(handler, "func", handler)
    return getattr(inner, "__qualname__", repr(inner))
