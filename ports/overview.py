"""The order overview as its inbound adapters (the dashboard) read it: how each part was answered."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, kw_only=True)
class OverviewPart:
    """One part of the overview (order, stock, payment, shipment).

    `status` is ok, timeout, open_circuit or error; `source` is live, last_known (the value read
    live before, `age_seconds` ago) or none (never read); `error` says why a part is not live."""

    name: str
    status: str
    latency_ms: float
    source: str
    age_seconds: float | None = None
    error: str | None = None

    @classmethod
    def from_json(cls, name: str, block: Mapping[str, Any]) -> OverviewPart:
        age = block.get("age_seconds")
        error = block.get("error")
        return cls(name=name, status=str(block["status"]), latency_ms=float(block["latency_ms"]),
                   source=str(block["source"]), age_seconds=None if age is None else float(age),
                   error=None if error is None else str(error))


@dataclass(frozen=True, kw_only=True)
class OrderOverview:
    """The parts in the order the overview lists them; `complete` when every one is live."""

    order_id: str
    complete: bool
    latency_ms: float
    parts: tuple[OverviewPart, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OrderOverview:
        """From the body of GET /orders/{id}/overview."""
        return cls(order_id=str(data["order_id"]), complete=bool(data["complete"]),
                   latency_ms=float(data["latency_ms"]),
                   parts=tuple(OverviewPart.from_json(name, block) for name, block in data["parts"].items()))


class Overviews(Protocol):
    """Reads one order's overview: the order, its stock reservation, payment and shipment, at once.

    Contract:
    - `overview(order_id)` returns every part, each with its status, latency and source, whether
      or not the other services answered (a part that failed is shown as such, never raised);
    - raises NotFound for an unknown order;
    - raises Unavailable naming the parts in `require` that were not answered live.
    """

    def overview(self, order_id: str, require: Iterable[str] = ()) -> OrderOverview: ...
