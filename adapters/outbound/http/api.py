"""One httpx client for a served orderhex, turning problem documents back into core's errors."""

from __future__ import annotations

from typing import Any

import httpx

from core.kernel.errors import (
    AlreadyProcessed,
    ConcurrencyConflict,
    DomainError,
    IdempotencyConflict,
    IllegalTransition,
    NotFound,
    Unavailable,
    ValidationError,
)

TIMEOUT = httpx.Timeout(10.0, connect=3.0)


class ServedApi:
    """Requests to `base_url` with the admin bearer token (and the API key, when the server wants one).

    Every failure is raised as the core error the server mapped to HTTP, or Unavailable naming
    the server when it cannot be reached, so callers handle attach mode like in-process mode.
    """

    def __init__(self, base_url: str, token: str, api_key: str = "", transport: httpx.BaseTransport | None = None
                 ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"}
        if api_key:
            headers["X-API-Key"] = api_key
        self.client = httpx.Client(base_url=self.base_url, headers=headers, timeout=TIMEOUT, transport=transport)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise self.unreachable(exc) from exc
        if response.status_code >= 400:
            raise self.error(response)
        return response

    def unreachable(self, exc: Exception) -> Unavailable:
        return Unavailable(f"orderhex serve at {self.base_url}", str(exc) or type(exc).__name__,
                           "check that it runs and that --attach names its address")

    def error(self, response: httpx.Response) -> DomainError:
        try:
            body: dict[str, Any] = response.json()
        except ValueError:
            body = {}
        detail = str(body.get("detail") or response.text or response.reason_phrase)
        kind = str(body.get("type", "")).rsplit(":", 1)[-1]
        status = response.status_code
        if status == 401:
            return Unavailable(f"the admin API at {self.base_url}", f"credentials refused ({detail})",
                               "pass the admin token `orderhex serve` printed with --token")
        if status == 422 and body.get("errors"):
            first = body["errors"][0]
            return ValidationError(str(first.get("field", "")), str(first.get("message", detail)))
        if status == 404 and body.get("order_id"):
            return NotFound("order", str(body["order_id"]))
        if kind == "illegal-transition":
            return IllegalTransition(str(body.get("order_id")), str(body.get("state")), detail)
        if kind == "concurrency-conflict":
            return ConcurrencyConflict(str(body.get("order_id")), -1)
        if kind == "idempotency-conflict":
            return IdempotencyConflict("(sent key)", str(body.get("order_id")))
        if kind == "already-processed":
            return AlreadyProcessed(detail)
        if status == 503 or status >= 500:
            return Unavailable(f"orderhex serve at {self.base_url}", detail, "it reports a dependency down; retry")
        return ValidationError("request", detail)

    def close(self) -> None:
        self.client.close()
