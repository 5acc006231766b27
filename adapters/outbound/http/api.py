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
    InvalidFields,
    NotFound,
    Unavailable,
    ValidationError,
)

TIMEOUT = httpx.Timeout(10.0, connect=3.0)


class CredentialsRefused(Unavailable, PermissionError):
    """The server answers but refuses the credentials sent (401 or 403): not a lost server.

    An Unavailable, so whoever waits out a lost server waits this out too (a server that
    generates its token at start refuses the old one after a restart, and may accept it again
    after the next); a PermissionError, so a caller that knows only core and the standard
    library, like the dashboard, can say "token refused" instead of "not answering"."""

    def __init__(self, base_url: str, credential: str, detail: str, hint: str) -> None:
        super().__init__(f"orderhex serve at {base_url}", f"it refused the {credential} ({detail})", hint)
        self.args = (f"orderhex serve at {base_url} refused the {credential} ({detail}): {hint}",)
        self.credential = credential

    def __str__(self) -> str:
        return str(self.args[0])


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

    def error(self, response: httpx.Response) -> DomainError | Unavailable:
        try:
            body: dict[str, Any] = response.json()
        except ValueError:
            body = {}
        detail = str(body.get("detail") or response.text or response.reason_phrase)
        kind = str(body.get("type", "")).rsplit(":", 1)[-1]
        status = response.status_code
        if status in (401, 403):
            return self.refused(response, detail)
        if status == 422 and body.get("errors"):
            errors = [ValidationError(str(e.get("field", "")), str(e.get("message", detail))) for e in body["errors"]]
            return errors[0] if len(errors) == 1 else InvalidFields(errors)
        if status == 404 and body.get("order_id"):
            return NotFound("order", str(body["order_id"]))
        if kind == "illegal-transition":
            # The detail reads "order ID is STATE: cannot ACTION": the action is what is rebuilt here.
            action = detail.rpartition(": cannot ")[2] or detail
            return IllegalTransition(str(body.get("order_id")), str(body.get("state")), action)
        if kind == "concurrency-conflict":
            return ConcurrencyConflict(str(body.get("order_id")), -1)
        if kind == "idempotency-conflict":
            return IdempotencyConflict("(sent key)", str(body.get("order_id")))
        if kind == "already-processed":
            return AlreadyProcessed(detail)
        if status == 503 or status >= 500:
            return Unavailable(f"orderhex serve at {self.base_url}", detail, "it reports a dependency down; retry")
        return ValidationError("request", detail)

    def refused(self, response: httpx.Response, detail: str) -> CredentialsRefused:
        path = response.url.path.removeprefix(httpx.URL(self.base_url).path.rstrip("/"))
        if path.startswith("/admin/"):
            return CredentialsRefused(
                self.base_url, "admin token", detail,
                "pass the token it printed at start with --token (a server that generates its token prints a "
                "new one at each start: set api.admin_token to keep one)")
        return CredentialsRefused(self.base_url, "API key", detail, "pass its api.api_key with --api-key")

    def close(self) -> None:
        self.client.close()
