"""One context as a running service: its bus, its unit of work over its store, its views' queries,
aggregate history and view rebuilds. Knows no context: it reads the context's descriptor."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from functools import partial
from typing import Any, TypeVar

from core.kernel.aggregate import Aggregate
from core.kernel.errors import NotFound
from core.kernel.feed import FeedEvent, FeedKind
from core.kernel.messages import Command, DomainEvent
from core.kernel.views import Page, View
from core.runtime.bus import MessageBus
from core.runtime.context import Context
from core.runtime.group_commit import GroupCommit
from core.runtime.unit_of_work import StagedViews, UnitOfWork
from ports.storage import Storage
from ports.system import Clock, EventFeed, IdGenerator

T = TypeVar("T")


class Service:
    """`storage` may be a live port: every command and query uses whichever store is active."""

    def __init__(self, context: Context, *, storage: Storage, feed: EventFeed, clock: Clock, ids: IdGenerator,
                 events_topic: str, settings: Mapping[str, Any] | None = None) -> None:
        """`settings` are handler dependencies by keyword (payments' `default_credit_limit`): each
        handler is given those its signature names, besides `now` and `new_id`."""
        self.context = context
        self.storage = storage
        self.feed = feed
        self.clock = clock
        self.events_topic = events_topic
        bind = partial(_bind, deps={"now": clock.now, "new_id": ids.new_id, **(settings or {})})
        self.bus = MessageBus(
            uow_factory=self.unit_of_work,
            command_handlers={cmd: bind(handler) for cmd, handler in context.command_handlers.items()},
            event_handlers={event: [bind(h) for h in handlers] for event, handlers in context.event_handlers.items()},
            feed=feed, now=clock.now,
        )

    @property
    def name(self) -> str:
        return self.context.name

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self.storage.committer, project=self.context.project, events_topic=self.events_topic)

    def send(self, command: Command, message_id: str | None = None) -> Any:
        """Handle a command of this context; `message_id` makes its effect happen at most once."""
        return self.bus.handle(command, message_id=message_id)

    def react(self, event: DomainEvent, message_id: str) -> int:
        """Run this context's reactions to an event from another context, each at most once."""
        return self.bus.react(event, message_id=message_id)

    def reacts_to(self, event_type: type[DomainEvent]) -> bool:
        return self.bus.reacts_to(event_type)

    def group_commit(self) -> GroupCommit:
        """Group commit over this service's bus and store (one transaction per batch)."""
        return GroupCommit(self.bus, self.unit_of_work)

    def document(self, view: View[T], key: str) -> T | None:
        return self.storage.read_model.get(view, key)

    def list(self, view: View[T], where: tuple[str | None, ...], cursor: str | None, limit: int) -> Page[T]:
        return self.storage.read_model.list(view, where, cursor, limit)

    def history(self, aggregate_id: str) -> list[DomainEvent]:
        """The aggregate's events in version order; NotFound if it has none."""
        events = self.storage.history(aggregate_id)
        if not events:
            raise NotFound(self.context.aggregates[0].kind, aggregate_id)
        return events

    def rebuild_views(self) -> int:
        """Recompute this context's views from its event streams (event-sourced store) or its
        aggregates' current state (state store); returns how many items were replayed. The
        projection position is kept: the views are rebuilt as of the same committed state."""
        storage = self.storage
        read_model = storage.read_model
        position = read_model.position()
        for view in self.context.views:
            read_model.clear(view)
        views = _DirectViews(storage, position)
        count = 0
        if storage.mode == "events" and self.context.project is not None:
            after = 0
            while stored := storage.event_store.read_all(after_position=after, limit=1000):
                for item in stored:
                    self.context.project(views, item.event)
                    after = item.position
                count += len(stored)
        elif self.context.summarise is not None:
            for codec in self.context.aggregates:
                for aggregate_id in storage.aggregate_ids(codec):
                    aggregate = _load(storage, codec, aggregate_id)
                    if aggregate is not None:
                        self.context.summarise(views, aggregate)
                        count += 1
        self.feed.publish(FeedEvent(kind=FeedKind.COMMAND, text=f"{self.name} views rebuilt from {count} items",
                                    at=self.clock.now(), data={"command": "RebuildProjections", "context": self.name}))
        return count


class _DirectViews(StagedViews):
    """A ViewWriter that writes straight to the read model (rebuilds run outside units of work)."""

    def __init__(self, storage: Storage, position: int) -> None:
        super().__init__(storage.committer)
        self._read_model = storage.read_model
        self._position = position

    def get(self, view: View[T], key: str) -> T | None:
        return self._read_model.get(view, key)

    def put(self, view: View[T], document: T) -> None:
        self._read_model.put(view, document, self._position)


def _load(storage: Storage, codec: Any, aggregate_id: str) -> Aggregate | None:
    loaded: Aggregate | None = storage.committer.load(codec, aggregate_id)
    return loaded


def _bind(handler: Any, *, deps: Mapping[str, Any]) -> Any:
    accepted = inspect.signature(handler).parameters
    return partial(handler, **{name: value for name, value in deps.items() if name in accepted})
