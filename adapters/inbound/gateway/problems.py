"""RFC 9457 problem documents in the services' shape (adapters/inbound/rest/problems.py):
`type` urn:orderhex:problem:<kind>, `title`, `status`, `detail`, `instance`.

Every one carries `X-Gateway-Error: <kind>`: the gateway answered it itself. An upstream's answer
passed through never does (the proxy drops the header from upstream responses), so a 5xx with
the header is the gateway's own failure and one without it is the service's."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

PROBLEM_MEDIA_TYPE = "application/problem+json"
GATEWAY_ERROR = "X-Gateway-Error"
TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
          413: "Request body too large", 422: "Invalid input", 429: "Too many requests", 500: "Internal error",
          502: "Bad gateway", 503: "Service unavailable", 504: "Gateway timeout"}


def problem(status: int, kind: str, detail: str, path: str, headers: dict[str, str] | None = None,
            **extensions: Any) -> web.Response:
    body = {"type": f"urn:orderhex:problem:{kind}", "title": TITLES.get(status, "Error"), "status": status,
            "detail": detail, "instance": path, **{k: v for k, v in extensions.items() if v is not None}}
    return web.Response(status=status, body=json.dumps(body).encode(), headers={
        "Content-Type": PROBLEM_MEDIA_TYPE, GATEWAY_ERROR: kind, **(headers or {})})
