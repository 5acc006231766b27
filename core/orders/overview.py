"""The order overview: one order with its stock reservation, payment and shipment, gathered at once.

API composition: the order comes from this context's read model, the rest from the other services
through their query ports (in-process or HTTP, chosen by topology). The parts are fetched
concurrently, each with a time limit, under one deadline; a part that fails is shown with why
(timeout, open circuit, error) and, when it was read before, with its last known value and age.
A caller names the parts it cannot do without (`require`): if one of those is not live, the whole
overview is refused (PartsMissing, 503 over HTTP) instead of shown partial.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from core.kernel.errors import NotFound, Unavailable, ValidationError
from core.orders.queries import GetOrder
from core.runtime.fanout import FanOut, LastKnown, PartResult
from ports.inventory import StockLevels
from ports.orders import Ordering
from ports.payments import Credit
from ports.shipping import ShipmentStatus

PARTS = ("order", "stock", "payment", "shipment")


class PartsMissing(Unavailable):
    """Parts the caller required could not be read live."""

    def __init__(self, missing: dict[str, str], overview: Overview) -> None:
        named = ", ".join(f"{name} ({status})" for name, status in missing.items())
        super().__init__(f"the overview's required part{'s' if len(missing) > 1 else ''} {named}",
                         "not answered live", "retry, or ask without requiring them")
        self.missing = missing
        self.overview = overview


@dataclass(frozen=True, kw_only=True)
class Part:
    """One part as the overview shows it: what happened to its live call and where its value is from."""

    status: str  # ok | timeout | open_circuit | error
    latency_ms: float
    source: str  # live | last_known | none
    value: dict[str, Any] | None = None
    age_seconds: float | None = None
    error: str | None = None

    def block(self) -> dict[str, Any]:
        block: dict[str, Any] = {"status": self.status, "latency_ms": round(self.latency_ms, 2), "source": self.source}
        if self.age_seconds is not None:
            block["age_seconds"] = round(self.age_seconds, 3)
        if self.error is not None:
            block["error"] = self.error
        return block


@dataclass(frozen=True, kw_only=True)
class Overview:
    order_id: str
    parts: dict[str, Part] = field(default_factory=dict)
    latency_ms: float = 0.0

    @property
    def complete(self) -> bool:
        return all(part.status == "ok" for part in self.parts.values())

    def to_json(self) -> dict[str, Any]:
        return {"order_id": self.order_id, **{name: part.value for name, part in self.parts.items()},
                "complete": self.complete, "latency_ms": round(self.latency_ms, 2),
                "parts": {name: part.block() for name, part in self.parts.items()}}


def parse_require(text: str | None) -> frozenset[str]:
    """`payment,stock` -> the required parts; an unknown name is refused, naming the known ones."""
    names = frozenset(n.strip() for n in (text or "").split(",") if n.strip())
    unknown = sorted(names - set(PARTS))
    if unknown:
        raise ValidationError("query.require", f"unknown part {', '.join(unknown)}; parts are {', '.join(PARTS)}")
    return names


class OrderOverviews:
    """Builds overviews. `part_timeout` and `deadline` are seconds."""

    def __init__(self, ordering: Ordering, stock: StockLevels, credit: Credit, shipments: ShipmentStatus, *,
                 fanout: FanOut, last_known: LastKnown[dict[str, Any] | None], monotonic: Callable[[], float],
                 part_timeout: float, deadline: float) -> None:
        self._ordering = ordering
        self._stock = stock
        self._credit = credit
        self._shipments = shipments
        self._fanout = fanout
        self._last_known = last_known
        self._monotonic = monotonic
        self.part_timeout = part_timeout
        self.deadline = deadline

    def overview(self, order_id: str, require: Iterable[str] = ()) -> Overview:
        """The order's overview; NotFound for an unknown order, PartsMissing when a required part is not live."""
        required = frozenset(require)
        started = self._monotonic()

        def json_of(value: Any) -> dict[str, Any] | None:
            return None if value is None else dict(value.to_json())

        calls: dict[str, Callable[[float], Any]] = {
            "order": lambda within: json_of(self._ordering.get(GetOrder(order_id=order_id))),
            "stock": lambda within: json_of(self._stock.reservation(order_id, within=within)),
            "payment": lambda within: json_of(self._credit.payment(order_id, within=within)),
            "shipment": lambda within: json_of(self._shipments.shipment(order_id, within=within)),
        }
        results = self._fanout.run(calls, part_timeout=self.part_timeout, deadline=self.deadline)
        order = results["order"]
        if isinstance(order.exception, NotFound):
            raise order.exception
        parts = {name: self._part(name, order_id, result) for name, result in results.items()}
        overview = Overview(order_id=order_id, parts=parts, latency_ms=(self._monotonic() - started) * 1000)
        missing = {name: parts[name].status for name in PARTS if name in required and parts[name].status != "ok"}
        if missing:
            raise PartsMissing(missing, overview)
        return overview

    def _part(self, name: str, order_id: str, result: PartResult) -> Part:
        if result.ok:
            self._last_known.put(name, order_id, result.value)
            return Part(status="ok", latency_ms=result.latency_ms, source="live", value=result.value)
        known = self._last_known.get(name, order_id)
        if known is None:
            return Part(status=result.status, latency_ms=result.latency_ms, source="none", error=result.error)
        value, age = known
        return Part(status=result.status, latency_ms=result.latency_ms, source="last_known", value=value,
                    age_seconds=age, error=result.error)
