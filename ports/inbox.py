from __future__ import annotations

from typing import Protocol


class Inbox(Protocol):
    """Ids of inbound messages whose effect is committed (idempotent consumer).

    Contract: `add(message_id)` stages the id in the current transaction and raises
    AlreadyProcessed if it was recorded before (at the latest when the transaction commits);
    `contains(message_id)` tells whether it was committed.
    """

    def add(self, message_id: str) -> None: ...

    def contains(self, message_id: str) -> bool: ...
