"""The query ports orders uses (StockLevels, Credit, ShipmentStatus), answered by another process's
REST routes.

Every call to a service goes through that service's circuit breaker (one per target, `http:<name>`),
with a per-call timeout cut to the caller's time left, which travels along in the X-Deadline-Ms
header so the far side can refuse work it cannot finish in time. These are all GETs, so a failure
that may pass (a 5xx, a timeout, a lost connection) is retried a bounded number of times after a
jittered pause; a 4xx is the caller's mistake and is neither retried nor counted by the breaker.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from core.inventory.queries import ReservationSummary, StockLevel
from core.kernel.errors import DomainError, Unavailable, ValidationError
from core.payments.queries import AccountBalance, PaymentSummary
from core.runtime.breaker import CircuitOpen
from core.runtime.fanout import DeadlineExceeded, TimedOut
from core.shipping.queries import ShipmentSummary

DEADLINE_HEADER = "X-Deadline-Ms"
Guard = Callable[[Callable[[], Any]], Any]


def unguarded(call: Callable[[], Any]) -> Any:
    return call()


class ServiceCaller:
    """GETs to one service at `base_url`. `guard` is its breaker's call (each attempt is one call);
    `timeout` the seconds one attempt may take; `retries` extra attempts at most, after a pause of
    random() * backoff * 2^attempt seconds."""

    def __init__(self, service: str, base_url: str, *, guard: Guard = unguarded, timeout: float = 2.0,
                 retries: int = 2, backoff: float = 0.05, random: Callable[[], float],
                 sleep: Callable[[float], None], monotonic: Callable[[], float], api_key: str = "",
                 transport: httpx.BaseTransport | None = None) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/")
        self._guard = guard
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff
        self._random = random
        self._sleep = sleep
        self._monotonic = self.monotonic = monotonic
        headers = {"X-API-Key": api_key} if api_key else {}
        self._client = httpx.Client(base_url=self.base_url, headers=headers, transport=transport)

    def get(self, path: str, within: float | None = None) -> dict[str, Any] | None:
        """The JSON body, None for a 404; the core's errors otherwise (see the module docstring)."""
        ends = None if within is None else self._monotonic() + within
        attempt = 0
        while True:
            left = None if ends is None else ends - self._monotonic()
            if left is not None and left <= 0:
                raise DeadlineExceeded(self.service, left * 1000, "no time left to call it")
            try:
                result: dict[str, Any] | None = self._guard(lambda left=left: self._attempt(path, left))
                return result
            except (DeadlineExceeded, DomainError):
                raise
            except Unavailable as exc:
                if isinstance(exc, CircuitOpen) or attempt >= self._retries:
                    raise
                pause = self._random() * self._backoff * 2 ** attempt
                if ends is not None and self._monotonic() + pause >= ends:
                    raise
                self._sleep(pause)
                attempt += 1

    def _attempt(self, path: str, left: float | None) -> dict[str, Any] | None:
        timeout = self._timeout if left is None else min(self._timeout, left)
        headers = {} if left is None else {DEADLINE_HEADER: str(max(1, int(left * 1000)))}
        what = f"{self.service} at {self.base_url}"
        try:
            response = self._client.get(path, headers=headers, timeout=timeout)
        except httpx.TimeoutException as exc:
            raise TimedOut(what, timeout) from exc
        except httpx.HTTPError as exc:
            raise Unavailable(what, str(exc) or type(exc).__name__, "check that it runs and services."
                                                                   f"{self.service}.url names it") from exc
        if response.status_code == 404:
            return None
        if response.status_code < 400:
            body: dict[str, Any] = response.json()
            return body
        detail, kind = _problem(response)
        if response.status_code == 504 and kind == "deadline-exceeded":
            raise DeadlineExceeded(self.service, (left or 0) * 1000, detail)
        if response.status_code >= 500:
            raise Unavailable(what, f"HTTP {response.status_code}: {detail}", "it reports a failure; retry later")
        raise ValidationError("request", f"{what} refused {path}: HTTP {response.status_code}: {detail}")

    def close(self) -> None:
        self._client.close()


def _problem(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    detail = str(body.get("detail") or response.text or response.reason_phrase)
    return detail[:300], str(body.get("type", "")).rsplit(":", 1)[-1]


def _path(*parts: str) -> str:
    return "/" + "/".join(quote(p, safe="") for p in parts)


class HttpStockLevels:
    def __init__(self, caller: ServiceCaller) -> None:
        self._caller = caller

    def reservation(self, order_id: str, *, within: float | None = None) -> ReservationSummary | None:
        body = self._caller.get(_path("inventory", "reservations", order_id), within)
        return None if body is None else ReservationSummary.from_json(body)

    def levels(self, skus: Sequence[str], *, within: float | None = None) -> dict[str, StockLevel]:
        ends = None if within is None else self._caller.monotonic() + within
        levels: dict[str, StockLevel] = {}
        for sku in skus:
            left = None if ends is None else ends - self._caller.monotonic()
            body = self._caller.get(_path("inventory", "stock", sku), left)
            if body is not None:
                levels[sku] = StockLevel.from_json(body)
        return levels


class HttpCredit:
    def __init__(self, caller: ServiceCaller) -> None:
        self._caller = caller

    def account(self, customer_id: str, *, within: float | None = None) -> AccountBalance | None:
        body = self._caller.get(_path("payments", "accounts", customer_id), within)
        return None if body is None else AccountBalance.from_json(body)

    def payment(self, order_id: str, *, within: float | None = None) -> PaymentSummary | None:
        body = self._caller.get(_path("payments", "payments", order_id), within)
        return None if body is None else PaymentSummary.from_json(body)


class HttpShipmentStatus:
    def __init__(self, caller: ServiceCaller) -> None:
        self._caller = caller

    def shipment(self, order_id: str, *, within: float | None = None) -> ShipmentSummary | None:
        body = self._caller.get(_path("shipping", "shipments", order_id), within)
        return None if body is None else ShipmentSummary.from_json(body)
