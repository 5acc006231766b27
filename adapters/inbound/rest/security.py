"""Credentials and limits: the admin bearer token, the optional API key, the body size limit, and
JSON-only request bodies.

Credentials are compared in constant time (hmac.compare_digest on bytes) and never echoed.
"""

# No `from __future__ import annotations`: FastAPI reads these signatures at run time, and
# their Annotated dependencies refer to local variables a string annotation cannot resolve.
import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.inbound.rest.problems import BodyTooLarge, Unauthorized, problem

API_KEY_HEADER = "X-API-Key"


def generate_token() -> str:
    return secrets.token_urlsafe(32)


def same_secret(given: str, expected: str) -> bool:
    # Bytes, because compare_digest refuses non-ASCII str and a header may carry any latin-1 text.
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def admin_guard(token: str) -> Callable[..., Awaitable[None]]:
    """A dependency that refuses a request without `Authorization: Bearer <token>`."""
    if not token:
        raise ValueError("the admin API needs a token; generate one rather than running open")
    bearer = HTTPBearer(auto_error=False, description="the admin token (api.admin_token, or printed at start)")

    async def check(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        if credentials is None:
            raise Unauthorized("the admin API needs 'Authorization: Bearer <admin token>'", "Bearer")
        if not same_secret(credentials.credentials, token):
            raise Unauthorized("the admin token is wrong", "Bearer", error="invalid_token")

    return check


def api_key_guard(api_key: str) -> Callable[..., Awaitable[None]]:
    """A dependency that requires the X-API-Key header carrying `api_key`."""
    header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False,
                          description="the API key (api.api_key)")

    async def check(given: Annotated[str | None, Depends(header)]) -> None:
        if given is None:
            raise Unauthorized(f"order endpoints need the {API_KEY_HEADER} header", "ApiKey")
        if not same_secret(given, api_key):
            raise Unauthorized(f"the {API_KEY_HEADER} header is wrong", "ApiKey", error="invalid_key")

    return check


class BodyLimit:
    """ASGI middleware: refuses bodies over `max_bytes` with 413, whether the client declares the
    length up front or streams a chunked body that only grows too large on the way."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            response = problem(413, f"request body is larger than {self.max_bytes} bytes", kind="body-too-large")
            await response(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited, send)


# Methods a browser's form or no-cors fetch can send cross-origin, and which change state here.
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# What a 415 says is accepted (RFC 9110 15.5.16: the response should say which media types are).
JSON_MEDIA_TYPES = "application/json, application/*+json"


def is_json(content_type: bytes) -> bool:
    """`application/json` or a structured `application/<x>+json`, any parameters (charset) aside."""
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


class JsonBodiesOnly:
    """ASGI middleware: a write (POST, PUT, PATCH, DELETE) that carries a Content-Type or a body gets
    415 unless the Content-Type is JSON.

    Why: a web page can make the operator's browser send `text/plain`, form-encoded or multipart
    bodies to a local orderhex without a CORS preflight, so without this check any page could
    place, cancel or ship orders. A JSON Content-Type needs a preflight, which this server never
    grants. A write without a body and without a Content-Type (approve, ship) still passes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WRITES:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        content_type = headers.get(b"content-type")
        has_body = headers.get(b"content-length", b"0").strip() not in (b"0", b"") or b"transfer-encoding" in headers
        if (content_type is None and not has_body) or (content_type is not None and is_json(content_type)):
            await self.app(scope, receive, send)
            return
        given = "no Content-Type" if content_type is None else f"Content-Type {content_type.decode('latin-1')[:80]!r}"
        response = problem(415, f"request bodies must be JSON ({JSON_MEDIA_TYPES}); got {given}",
                           kind="unsupported-media-type", title="Unsupported media type",
                           headers={"Accept": JSON_MEDIA_TYPES})
        await response(scope, receive, send)


UNSUPPORTED_MEDIA_TYPE_RESPONSE = {
    "description": "The request's body is not JSON: only application/json (or application/*+json) is accepted",
    "headers": {"Accept": {"description": "the media types accepted", "schema": {"type": "string"},
                           "required": True}},
    "content": {"application/problem+json": {
        "schema": {"$ref": "#/components/schemas/Problem"},
        "example": {"type": "urn:orderhex:problem:unsupported-media-type", "title": "Unsupported media type",
                    "status": 415, "detail": "request bodies must be JSON (application/json, application/*+json); "
                                             "got Content-Type 'text/plain'"}}},
}
