"""The Shipment aggregate, one per order. Pure.

Scheduling twice is one shipment and cancelling a cancelled shipment changes nothing, because
both arrive as retries and compensations; what cannot be undone (dispatch) refuses a cancel.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from core.kernel.aggregate import Aggregate, AggregateCodec, replayer
from core.kernel.errors import IllegalTransition, ValidationError
from core.kernel.fields import bounded_text
from core.kernel.messages import DomainEvent
from core.shipping.events import ShipmentCancelled, ShipmentDispatched, ShipmentScheduled

MAX_ADDRESS = 500


class ShipmentStatus(StrEnum):
    SCHEDULED = "SCHEDULED"
    CANCELLED = "CANCELLED"
    DISPATCHED = "DISPATCHED"


def parse_address(value: Any, field: str = "address") -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_ADDRESS:
        raise ValidationError(field, f"must be a non-empty string of at most {MAX_ADDRESS} characters, or absent")
    return bounded_text(value.strip(), field, MAX_ADDRESS)


class Shipment(Aggregate):
    def __init__(self, order_id: str, *, customer_id: str = "", address: str | None = None,
                 status: ShipmentStatus = ShipmentStatus.SCHEDULED, reason: str | None = None, version: int = 0,
                 created_at: datetime | None = None, updated_at: datetime | None = None) -> None:
        super().__init__(order_id, version)
        self.customer_id = customer_id
        self.address = address
        self.status = status
        self.reason = reason
        self.created_at = created_at
        self.updated_at = updated_at

    @classmethod
    def schedule(cls, order_id: str, customer_id: str, address: str | None, *, now: datetime,
                 event_id: str) -> Shipment:
        if not isinstance(customer_id, str) or not customer_id.strip():
            raise ValidationError("customer_id", "must be a non-empty string")
        bounded_text(customer_id, "customer_id")
        shipment = cls(order_id)
        shipment._record(ShipmentScheduled(event_id=event_id, aggregate_id=order_id, aggregate_version=1,
                                           occurred_at=now, customer_id=customer_id, address=parse_address(address)))
        return shipment

    def cancel(self, reason: str, *, now: datetime, event_id: str) -> bool:
        """Cancel; False (no event) when it already is. A dispatched shipment cannot be cancelled."""
        if not isinstance(reason, str) or not reason.strip():
            raise ValidationError("reason", "must be a non-empty string")
        if self.status is ShipmentStatus.CANCELLED:
            return False
        if self.status is ShipmentStatus.DISPATCHED:
            raise IllegalTransition(self.id, self.status.value, "cancel", kind="shipment")
        self._record(ShipmentCancelled(**self._meta(now, event_id), reason=reason.strip()))
        return True

    def dispatch(self, *, now: datetime, event_id: str) -> bool:
        """Dispatch; False (no event) when it already is. A cancelled shipment cannot be dispatched."""
        if self.status is ShipmentStatus.DISPATCHED:
            return False
        if self.status is ShipmentStatus.CANCELLED:
            raise IllegalTransition(self.id, self.status.value, "dispatch", kind="shipment")
        self._record(ShipmentDispatched(**self._meta(now, event_id)))
        return True

    def _meta(self, now: datetime, event_id: str) -> dict[str, Any]:
        return {"event_id": event_id, "aggregate_id": self.id, "aggregate_version": self.version + 1,
                "occurred_at": now}

    def _apply(self, event: DomainEvent) -> None:
        match event:
            case ShipmentScheduled(customer_id=customer_id, address=address):
                self.customer_id, self.address, self.status = customer_id, address, ShipmentStatus.SCHEDULED
                self.created_at = event.occurred_at
            case ShipmentCancelled(reason=reason):
                self.status, self.reason = ShipmentStatus.CANCELLED, reason
            case ShipmentDispatched():
                self.status = ShipmentStatus.DISPATCHED
            case _:
                raise ValueError(f"Shipment cannot apply {event.type_name}")
        self.version = event.aggregate_version
        self.updated_at = event.occurred_at



def _to_state(s: Shipment) -> dict[str, Any]:
    return {"order_id": s.id, "customer_id": s.customer_id, "address": s.address, "status": s.status.value,
            "reason": s.reason, "version": s.version,
            "created_at": s.created_at.isoformat() if s.created_at else None,
            "updated_at": s.updated_at.isoformat() if s.updated_at else None}


def _from_state(d: dict[str, Any]) -> Shipment:
    return Shipment(d["order_id"], customer_id=d["customer_id"], address=d["address"],
                    status=ShipmentStatus(d["status"]), reason=d["reason"], version=int(d["version"]),
                    created_at=datetime.fromisoformat(d["created_at"]) if d["created_at"] else None,
                    updated_at=datetime.fromisoformat(d["updated_at"]) if d["updated_at"] else None)


SHIPMENT = AggregateCodec[Shipment](name="shipping.Shipment", to_state=_to_state, from_state=_from_state,
                                    replay=replayer(Shipment))
