from __future__ import annotations

from typing import Protocol


class IdGenerator(Protocol):
    """Makes identifiers. Contract: `new_id()` returns a non-empty string never returned before
    by this generator; ids made later sort after ids made earlier (time-ordered)."""

    def new_id(self) -> str: ...
