"""What every part of the system reports to the EventFeed: one record type, a few kinds.

A kind exists once something publishes it (breakers and sagas add theirs when they land)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class FeedKind(StrEnum):
    COMMAND = "command"
    DOMAIN_EVENT = "domain_event"
    OUTBOX_PUBLISHED = "outbox_published"
    RELAY_LAG = "relay_lag"
    ADAPTER_SWITCHED = "adapter_switched"
    ERROR = "error"


@dataclass(frozen=True, kw_only=True)
class FeedEvent:
    """One system event. `seq` is assigned by the feed: increasing, gap-free per feed."""

    kind: FeedKind
    text: str
    at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    seq: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind.value, "text": self.text, "at": self.at.isoformat(),
                "data": self.data}
