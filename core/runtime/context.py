"""The descriptor a bounded context hands the runtime: everything generic machinery needs of it.

A context module builds one `Context`; the composition root registers it. Nothing in the
runtime or the stores names a context: they read this.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.kernel.aggregate import Aggregate, AggregateCodec
from core.kernel.messages import Command, DomainEvent
from core.kernel.views import View
from ports.storage import ViewWriter

# A handler takes its message, then the unit of work, then keyword dependencies: `now` (a
# clock's now) and `new_id` (an id generator's new_id), bound once when the service is built.
Handler = Callable[..., Any]
Projector = Callable[[ViewWriter, DomainEvent], None]
# Reads a command's JSON body (the context's wire format) into the command; ValidationError if bad.
Reader = Callable[[Any], Command]
Summariser = Callable[[ViewWriter, Aggregate], None]


@dataclass(frozen=True)
class Topics:
    """Where one context's messages travel: its events, the commands it takes, and the dead
    letters of commands it refused."""

    events: str
    commands: str
    dead_letters: str

    @classmethod
    def of(cls, prefix: str, context: str) -> Topics:
        return cls(f"{prefix}.{context}.events", f"{prefix}.{context}.commands", f"{prefix}.{context}.commands.dlq")


@dataclass(frozen=True, eq=False)
class Context:
    """One bounded context as the runtime sees it.

    - `name`: "orders"; its topics are named from it.
    - `aggregates`: the codecs of the aggregate types it keeps.
    - `command_handlers`: exactly one handler per command type it accepts.
    - `event_handlers`: reactions to events (its own or other contexts'), zero or more each.
    - `readers`: how each command it takes from a broker or a door is read from JSON.
    - `views`: its read models; `project` folds one of its events into them (in the same
      transaction as the event); `summarise` writes an aggregate's current state into them (to
      rebuild views from state storage, which keeps no full history).
    """

    name: str
    aggregates: tuple[AggregateCodec[Any], ...]
    command_handlers: Mapping[type[Command], Handler]
    views: tuple[View[Any], ...] = ()
    project: Projector | None = None
    summarise: Summariser | None = None
    event_handlers: Mapping[type[DomainEvent], Sequence[Handler]] = field(default_factory=dict)
    readers: Mapping[type[Command], Reader] = field(default_factory=dict)

    @property
    def command_types(self) -> tuple[type[Command], ...]:
        return tuple(self.command_handlers)

    @property
    def subscriptions(self) -> tuple[str, ...]:
        """The other contexts whose events it reacts to (their event topics it consumes)."""
        return tuple(sorted({event.context for event in self.event_handlers if event.context != self.name}))

    def without_reactions(self, events: tuple[type[DomainEvent], ...]) -> Context:
        """This context not reacting to `events` (the reactions only choreography has, in orchestration)."""
        return dataclasses.replace(self, event_handlers={event: handlers for event, handlers in
                                                         self.event_handlers.items() if event not in events})

    def reader(self, type_name: str) -> Reader | None:
        """The reader of a command named by its qualified ("inventory.Restock") or bare name."""
        for command, read in self.readers.items():
            if type_name in (command.type_name, command.__name__):
                return read
        return None
