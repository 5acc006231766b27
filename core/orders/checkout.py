"""The chained checkout quote: validation (orders) -> credit check (payments) -> approval (orders).

Synchronous chained calls, on purpose: each hop waits for the one before, so their latencies add up
and their failure rates compound (three hops that each fail 10% of the time fail together
1 - 0.9^3 = 27% of the time). One deadline covers the whole chain; each hop gets only what is left
of it, and refuses to start (DeadlineExceeded naming it) when nothing is. The place-order saga does
the same work asynchronously and compensates instead; see the README.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core.kernel.errors import DomainError, Unavailable
from core.kernel.money import format_amount
from core.orders.wire import place_order_from_json
from core.runtime.fanout import Deadline, DeadlineExceeded
from ports.payments import Credit

# (service, seconds left or None) -> None; sleeps or raises as the service's fault setting says.
Door = Callable[[str, float | None], None]
HOPS = (("validation", "orders"), ("credit-check", "payments"), ("approval", "orders"))


def open_door(service: str, within: float | None) -> None:
    """No faults: every hop goes straight through."""


@dataclass(frozen=True, kw_only=True)
class Hop:
    name: str
    service: str
    latency_ms: float
    status: str  # ok | failed | deadline_exceeded | not_run
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"hop": self.name, "service": self.service, "status": self.status,
                                "latency_ms": round(self.latency_ms, 2)}
        if self.error is not None:
            body["error"] = self.error
        return body


@dataclass(frozen=True, kw_only=True)
class Quote:
    customer_id: str
    currency: str
    total: Decimal
    available: Decimal | None
    decision: str  # approved | declined | referred
    reason: str
    deadline_ms: float
    left_ms: float
    hops: list[Hop] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        available = None if self.available is None else format_amount(self.available, self.currency)
        return {"customer_id": self.customer_id, "currency": self.currency,
                "total": format_amount(self.total, self.currency), "available_credit": available,
                "decision": self.decision, "reason": self.reason, "deadline_ms": round(self.deadline_ms, 2),
                "left_ms": round(self.left_ms, 2), "hops": [hop.to_json() for hop in self.hops]}


class HopFailed(Unavailable):
    """A hop of the chain failed: the quote as far as it went is in `hops`."""

    def __init__(self, hop: str, service: str, error: BaseException, hops: list[Hop]) -> None:
        super().__init__(f"checkout hop {hop} ({service})", str(error), "the whole chain fails with one hop; retry")
        self.hop = hop
        self.service = service
        self.hops = hops
        self.deadline = isinstance(error, DeadlineExceeded)


class Checkout:
    """Runs the chain. `deadline` is the default seconds a quote may take when the caller gives none."""

    def __init__(self, credit: Credit, *, monotonic: Callable[[], float], deadline: float,
                 door: Door = open_door) -> None:
        self._credit = credit
        self._monotonic = monotonic
        self._door = door
        self.deadline = deadline

    def quote(self, body: Any, deadline_seconds: float | None = None) -> Quote:
        """A quote for the order `body` describes (the place-order wire format). Bad input raises
        ValidationError before any hop; a failed hop raises HopFailed naming it."""
        seconds = self.deadline if deadline_seconds is None else deadline_seconds
        deadline = Deadline(seconds, self._monotonic)
        hops: list[Hop] = []
        results: dict[str, Any] = {}
        steps: dict[str, Callable[[float], Any]] = {
            "validation": lambda left: self._validate(body, left),
            "credit-check": lambda left: self._credit.account(results["validation"].customer_id, within=left),
            "approval": lambda left: self._approve(results["validation"], results["credit-check"], left),
        }
        for name, service in HOPS:
            started = self._monotonic()
            try:
                results[name] = steps[name](deadline.check(name))
            except DomainError:
                raise  # bad input or a refusal on purpose: the caller's to fix, not a failed hop
            except Unavailable as exc:
                error = exc if not isinstance(exc, DeadlineExceeded) else DeadlineExceeded(
                    name, deadline.left() * 1000, exc.reason.removeprefix("refused: "))
                status = "deadline_exceeded" if isinstance(error, DeadlineExceeded) else "failed"
                hops.append(Hop(name=name, service=service, status=status, error=str(error),
                                latency_ms=(self._monotonic() - started) * 1000))
                hops.extend(Hop(name=rest, service=svc, status="not_run", latency_ms=0.0)
                            for rest, svc in HOPS[len(hops):])
                raise HopFailed(name, service, error, hops) from exc
            hops.append(Hop(name=name, service=service, status="ok",
                            latency_ms=(self._monotonic() - started) * 1000))
        order, account = results["validation"], results["credit-check"]
        decision, reason = results["approval"]
        return Quote(customer_id=order.customer_id, currency=order.currency, total=_total(order),
                     available=None if account is None else account.available, decision=decision, reason=reason,
                     deadline_ms=seconds * 1000, left_ms=deadline.left() * 1000, hops=hops)

    def _validate(self, body: Any, left: float) -> Any:
        self._door("orders", left)
        return place_order_from_json(body)

    def _approve(self, order: Any, account: Any, left: float) -> tuple[str, str]:
        self._door("orders", left)
        total = _total(order)
        if account is None:
            return "referred", "no credit account yet: the default credit limit applies at payment"
        if account.currency != order.currency:
            return "declined", f"the account is in {account.currency}, the order in {order.currency}"
        if account.available < total:
            return "declined", (f"available credit {format_amount(account.available, order.currency)} is less "
                                f"than the total {format_amount(total, order.currency)}")
        return "approved", "enough available credit"


def _total(order: Any) -> Decimal:
    return sum((line.unit_price * line.quantity for line in order.lines), Decimal(0))
