"""The message bus (mediator): commands to exactly one handler, events to zero or more.

It keeps no per-call state on the instance (the event queue is a local), so one bus serves
many threads at once. A caller may hand in the unit of work (group commit does: many commands,
one transaction); it then dispatches the batch's events through `dispatch` after its commit.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from core.kernel.errors import AlreadyProcessed, ConcurrencyConflict
from core.kernel.feed import FeedEvent, FeedKind
from core.kernel.messages import Command, DomainEvent
from ports.storage import UnitOfWork
from ports.system import EventFeed

CommandHandler = Callable[[Any, UnitOfWork], Any]
EventHandler = Callable[[Any, UnitOfWork], None]
UnitOfWorkFactory = Callable[[], UnitOfWork]


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

    def handles(self, command_type: type[Command]) -> bool:
        return command_type in self._command_handlers

    def handle(self, command: Command, *, message_id: str | None = None,
               unit_of_work: UnitOfWork | None = None) -> Any:
        """Run the command's handler, then every handler of the events it caused.

        A ConcurrencyConflict is retried (the handler reloads the aggregate) up to
        `conflict_retries` times, then raised. Any other error propagates at once. With a
        `unit_of_work` given, the handler runs in it once, and its events wait for `dispatch`.
        """
        handler = self._command_handlers.get(type(command))
        if handler is None:
            raise LookupError(f"no handler for command {command.type_name}")
        name = type(command).__name__
        started = time.perf_counter()
        retries = 0 if unit_of_work is not None else self._conflict_retries
        for attempt in range(retries + 1):
            uow = unit_of_work or self._uow_factory()
            uow.message_id = message_id
            try:
                result = handler(command, uow)
                break
            except ConcurrencyConflict as exc:
                if attempt < retries:
                    continue
                self._report_failure(name, exc, started)
                raise
            except Exception as exc:  # reported whatever it is, so the feed shows every failed command
                self._report_failure(name, exc, started)
                raise
        self._report(FeedKind.COMMAND, f"{name} handled", command=name, outcome="ok",
                     ms=round((time.perf_counter() - started) * 1000, 3))
        self.dispatch(uow.collect_new_events())
        return result

    def reacts_to(self, event_type: type[DomainEvent]) -> bool:
        return bool(self._event_handlers.get(event_type))

    def react(self, event: DomainEvent, *, message_id: str) -> int:
        """Run this context's handlers of an event that came from elsewhere (another context's
        topic), each at most once: its unit of work records `<message_id>|<handler>` in the inbox.

        Unlike `dispatch`, a failing handler's error propagates (after the conflict retries), so
        the consumer redelivers or dead-letters the message; handlers that already ran are not
        run again on redelivery. Returns how many handlers took effect now.
        """
        ran = 0
        for handler in self._event_handlers.get(type(event), ()):
            name = _name(handler)
            uow = self._react_once(handler, event, f"{message_id}|{name}")
            if uow is None:
                continue  # this handler's effect was committed by an earlier delivery
            ran += 1
            self._report(FeedKind.COMMAND, f"{name} reacted to {event.type_name} {event.aggregate_id}",
                         command=name, outcome="ok", event=event.type_name, message_id=message_id)
            self.dispatch(uow.collect_new_events())
        return ran

    def _react_once(self, handler: EventHandler, event: DomainEvent, inbox_id: str) -> UnitOfWork | None:
        for attempt in range(self._conflict_retries + 1):
            uow = self._uow_factory()
            uow.message_id = inbox_id
            try:
                handler(event, uow)
                if not uow.committed:
                    # A reaction with nothing to change is still handled: record that, so a
                    # redelivery is known for what it is rather than run again.
                    with uow:
                        uow.commit()
            except AlreadyProcessed:
                return None
            except ConcurrencyConflict:
                if attempt < self._conflict_retries:
                    continue
                raise
            return uow
        raise AssertionError("unreachable: the last attempt returns or raises")

    def dispatch(self, events: list[DomainEvent]) -> None:
        """Report committed events and run their handlers, and those of the events they cause."""
        queue = deque(events)
        while queue:
            event = queue.popleft()
            self._report(FeedKind.DOMAIN_EVENT, f"{event.type_name} {event.aggregate_id} v{event.aggregate_version}",
                         type=event.type_name, aggregate_id=event.aggregate_id, version=event.aggregate_version)
            for handler in self._event_handlers.get(type(event), ()):
                uow = self._uow_factory()
                try:
                    handler(event, uow)
                except Exception as exc:  # one failing reaction must not stop the others
                    self._report(FeedKind.ERROR, f"{_name(handler)} failed on {event.type_name}: {exc}",
                                 handler=_name(handler), event=event.type_name, error=type(exc).__name__)
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
