from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PlaceResult:
    """What placing an order tells the caller: the id, and False when it was an idempotent replay."""

    order_id: str
    created: bool
