"""Domain events of the shipping context, named in the past tense."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.kernel.messages import DomainEvent


@dataclass(frozen=True, kw_only=True)
class ShippingEvent(DomainEvent, context="shipping"):
    """Base of the shipping context's events: their type names read "shipping.<Name>"."""


@dataclass(frozen=True, kw_only=True)
class ShipmentScheduled(ShippingEvent):
    customer_id: str
    address: str | None = None

    @classmethod
    def from_payload(cls, *, payload: dict[str, Any], **meta: Any) -> ShipmentScheduled:
        return cls(**meta, customer_id=payload["customer_id"], address=payload.get("address"))


@dataclass(frozen=True, kw_only=True)
class ShipmentCancelled(ShippingEvent):
    reason: str

    @classmethod
    def from_payload(cls, *, payload: dict[str, Any], **meta: Any) -> ShipmentCancelled:
        return cls(**meta, reason=payload["reason"])


@dataclass(frozen=True, kw_only=True)
class ShipmentDispatched(ShippingEvent):
    @classmethod
    def from_payload(cls, *, payload: dict[str, Any], **meta: Any) -> ShipmentDispatched:
        return cls(**meta)
