"""RFC 9457 problem documents: every error the REST adapter returns, and how core errors map to them."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount

from core.kernel.errors import (
    AlreadyProcessed,
    ConcurrencyConflict,
    DomainError,
    IdempotencyConflict,
    IllegalTransition,
    InvalidFields,
    NotFound,
    SagaLocked,
    Unavailable,
    ValidationError,
)

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("orderhex.rest")


class FieldError(BaseModel):
    """One bad input: `field` as the wire format spells it (`lines[0].unit_price`, `query.limit`)."""

    field: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document; the optional members are extensions some problems carry."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None
    order_id: str | None = None
    state: str | None = None
    checks: dict[str, str] | None = None


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


class BodyTooLarge(Exception):
    """Raised while reading a request body that grows past the configured limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body is larger than {limit} bytes")
        self.limit = limit


class Unauthorized(Exception):
    """A missing or wrong credential. `scheme` goes into WWW-Authenticate; the credential never
    appears in the message, so it cannot leak into a log or a response."""

    def __init__(self, detail: str, scheme: str, error: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.scheme = scheme
        self.error = error


_TITLES = {
    400: "Bad request", 401: "Unauthorized", 404: "Not found", 405: "Method not allowed",
    409: "Conflict", 413: "Request body too large", 422: "Invalid input", 503: "Service unavailable",
}


def problem(status: int, detail: str, *, kind: str, request: Request | None = None,
            headers: dict[str, str] | None = None, title: str | None = None, **extensions: Any) -> ProblemResponse:
    body: dict[str, Any] = {
        "type": f"urn:orderhex:problem:{kind}",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = request.url.path
    body.update({k: v for k, v in extensions.items() if v is not None})
    return ProblemResponse(body, status_code=status, headers=headers)


def _example(status: int, kind: str, detail: str, instance: str = "/orders", **extensions: Any) -> dict[str, Any]:
    return {"type": f"urn:orderhex:problem:{kind}", "title": _TITLES[status], "status": status, "detail": detail,
            "instance": instance, **extensions}


_ORDER_ID = "01a203b0-6c2f-7000-8381-7740352343a4"
_EXAMPLES: dict[int, dict[str, Any]] = {
    401: _example(401, "unauthorized", "order endpoints need the X-API-Key header"),
    404: _example(404, "not-found", f"order '{_ORDER_ID}' not found", f"/orders/{_ORDER_ID}", order_id=_ORDER_ID),
    409: _example(409, "illegal-transition", f"order {_ORDER_ID} is SHIPPED: cannot cancel",
                  f"/orders/{_ORDER_ID}/cancel", order_id=_ORDER_ID, state="SHIPPED"),
    413: _example(413, "body-too-large", "request body is larger than 65536 bytes"),
    422: _example(422, "validation", "customer_id: is required and must be a non-empty string; "
                                     "lines[0].unit_price: SKU-1: EUR has at most 2 decimals, got 9.999",
                  errors=[{"field": "customer_id", "message": "is required and must be a non-empty string"},
                          {"field": "lines[0].unit_price", "message": "SKU-1: EUR has at most 2 decimals, got 9.999"}]),
    503: _example(503, "unavailable", "storage is unavailable: database is locked. It is retried; try again"),
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problems a route may return (moved to problem+json by `install`)."""
    descriptions = {
        401: "Missing or wrong credential", 404: "No such order", 409: "Conflict with the order's current state",
        413: "Request body over the size limit", 422: "Invalid input; `errors` lists every bad field",
        503: "A dependency (store, broker) is down; retry after `Retry-After` seconds",
    }
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {"model": Problem, "description": descriptions[status],
                                 "content": {"application/json": {"example": _EXAMPLES[status]}}}
        if status == 503:
            entry["headers"] = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"},
                                                "required": True}}
        if status == 401:
            entry["headers"] = {"WWW-Authenticate": {"description": "the scheme to use",
                                                     "schema": {"type": "string"}, "required": True}}
        responses[status] = entry
    return responses


def install(api: FastAPI, retry_after_seconds: int) -> None:
    """Map every error, ours and the framework's, to a problem document."""

    @api.exception_handler(ValidationError)
    async def invalid(request: Request, exc: ValidationError) -> ProblemResponse:
        # InvalidFields carries every bad field of the request; a plain ValidationError, one.
        bad = exc.errors if isinstance(exc, InvalidFields) else [exc]
        return problem(422, str(exc), kind="validation", request=request,
                       errors=[{"field": e.field, "message": e.message} for e in bad])

    @api.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> ProblemResponse:
        errors = [{"field": _location(e.get("loc", ())), "message": str(e.get("msg", "invalid"))}
                  for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem(422, detail, kind="validation", request=request, errors=errors)

    @api.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> ProblemResponse:
        return problem(404, str(exc), kind="not-found", request=request,
                       order_id=exc.key if exc.kind == "order" else None)

    @api.exception_handler(IllegalTransition)
    async def illegal(request: Request, exc: IllegalTransition) -> ProblemResponse:
        return problem(409, str(exc), kind="illegal-transition", request=request,
                       order_id=exc.aggregate_id, state=exc.state)

    @api.exception_handler(SagaLocked)
    async def locked(request: Request, exc: SagaLocked) -> ProblemResponse:
        return problem(409, str(exc), kind="saga-locked", request=request,
                       order_id=exc.aggregate_id if exc.kind == "order" else None, saga_id=exc.saga_id,
                       saga=exc.definition, saga_summary=exc.summary)

    @api.exception_handler(ConcurrencyConflict)
    async def concurrent(request: Request, exc: ConcurrencyConflict) -> ProblemResponse:
        return problem(409, str(exc), kind="concurrency-conflict", request=request, order_id=exc.aggregate_id)

    @api.exception_handler(IdempotencyConflict)
    async def idempotency(request: Request, exc: IdempotencyConflict) -> ProblemResponse:
        return problem(409, str(exc), kind="idempotency-conflict", request=request, order_id=exc.order_id)

    @api.exception_handler(AlreadyProcessed)
    async def processed(request: Request, exc: AlreadyProcessed) -> ProblemResponse:
        return problem(409, str(exc), kind="already-processed", request=request)

    @api.exception_handler(Unavailable)
    async def unavailable(request: Request, exc: Unavailable) -> ProblemResponse:
        return problem(503, str(exc), kind="unavailable", request=request,
                       headers={"Retry-After": str(retry_after_seconds)})

    @api.exception_handler(DomainError)
    async def domain(request: Request, exc: DomainError) -> ProblemResponse:
        # A DomainError without its own mapping is still the caller's request being refused.
        return problem(422, str(exc), kind="refused", request=request)

    @api.exception_handler(BodyTooLarge)
    async def too_large(request: Request, exc: BodyTooLarge) -> ProblemResponse:
        return problem(413, str(exc), kind="body-too-large", request=request)

    @api.exception_handler(Unauthorized)
    async def unauthorized(request: Request, exc: Unauthorized) -> ProblemResponse:
        challenge = exc.scheme if exc.error is None else f'{exc.scheme} error="{exc.error}"'
        return problem(401, exc.detail, kind="unauthorized", request=request,
                       headers={"WWW-Authenticate": challenge})

    @api.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> ProblemResponse:
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "Error")
        headers = dict(exc.headers or {})
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route {request.url.path}"
        if exc.status_code == 405:
            # Starlette names only the first route that matched the path; Allow must list them all.
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return problem(exc.status_code, detail, kind=f"http-{exc.status_code}", request=request, headers=headers)

    @api.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> ProblemResponse:
        # A bug, not bad input: log it for the operator and tell the client nothing internal.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "internal error; the operator's log has the details", kind="internal",
                       request=request, title="Internal error")


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route answers on this path: each is tried against the router, so routes
    nested in included routers count as much as top-level ones. HEAD goes with GET (HeadAsGet);
    a mount (the docs' static files) serves GET and HEAD."""
    routes = request.app.routes
    allowed = {method for method in _METHODS
               if any(route.matches({**request.scope, "method": method})[0] is Match.FULL
                      for route in routes if not isinstance(route, Mount))}
    if "GET" in allowed or any(route.matches(request.scope)[0] is not Match.NONE
                               for route in routes if isinstance(route, Mount)):
        allowed |= {"GET", "HEAD"}
    return [method for method in _METHODS if method in allowed]


def _location(loc: Any) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        where, rest = parts[0], parts[1:]
        return f"{where}.{'.'.join(rest)}" if rest and where != "body" else (".".join(rest) or where)
    return ".".join(parts) or "request"


def as_problem_media_type(schema: dict[str, Any]) -> dict[str, Any]:
    """Document every 4xx/5xx body under application/problem+json, which is what is sent."""
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if status[:1] in ("4", "5") and "application/json" in content:
                    content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
                body = content.get(PROBLEM_MEDIA_TYPE, {})
                if body.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
                    # FastAPI documents its own 422 body where no other was declared; a problem is sent.
                    body["schema"] = {"$ref": "#/components/schemas/Problem"}
    return schema
