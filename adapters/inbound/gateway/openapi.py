"""The gateway's OpenAPI document (GET /openapi.json): the services' own documents, fetched from a
healthy instance of each and composed, every forwarded operation given the gateway's security
(its API keys and JWTs, with the scope the route needs) and the errors the gateway answers itself
(401, 403, 413, 429, 502, 503, 504, each problem+json with `X-Gateway-Error`); plus the gateway's
own endpoints.

Composed from what the instances serve rather than from the REST adapter's code: this adapter
family imports no other, and a gateway in front of a newer release documents that release. A
service whose document cannot be fetched is left out and named in `x-orderhex-missing`; it is
asked again at the next request. A fetched document is kept for `max_age` seconds, and kept
beyond them while no instance answers (a stale page beats a missing one).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from adapters.inbound.gateway.auth import API_KEY_HEADER, Authenticator
from adapters.inbound.gateway.problems import GATEWAY_ERROR, PROBLEM_MEDIA_TYPE
from adapters.inbound.gateway.routes import ADMIN_SCOPE, Route, RouteTable
from adapters.inbound.gateway.upstreams import Upstreams

log = logging.getLogger("orderhex.gateway")

ADMIN_PREFIX = "/admin"
ADMIN_SERVICE = "orders"  # adapters/inbound/gateway/admin.py forwards /admin/* there
WRITES = ("post", "put", "patch", "delete")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
API_KEY_SCHEME, JWT_SCHEME = "gatewayApiKey", "gatewayJwt"
PROBLEM_SCHEMA = "GatewayProblem"
# The services' own credential: the gateway keeps the client's and presents its own.
CREDENTIAL_HEADERS = frozenset({API_KEY_HEADER.lower(), "authorization"})

DESCRIPTION = """The orderhex API gateway: one entry point in front of the services.

* Every path below `/orders`, `/checkout`, `/inventory`, `/payments` and `/shipping` is forwarded
  to a healthy instance of the service that owns it; its answers are the service's own, marked
  with `X-Served-By: <service>/<instance>`.
* Credentials: `X-API-Key` or `Authorization: Bearer <JWT>` (HS256), each giving a client and its
  scopes; an operation needs `<service>:read` (GET, HEAD) or `<service>:write`, and `admin`
  grants every scope. `/admin/*` needs the services' admin token instead.
* Each client is rate-limited: `RateLimit-Policy` and `RateLimit` headers on every answer, 429
  with `Retry-After` past the limit.
* Errors the gateway answers itself are `application/problem+json` (RFC 9457) and carry
  `X-Gateway-Error: <kind>`: 401, 403, 404 for a path no service owns, 413, 429, 502 and 504
  when the upstream failed, 503 when no instance is healthy. An upstream's 5xx passed through has
  `X-Served-By` and no `X-Gateway-Error`.
* Safe requests (GET, HEAD, OPTIONS) are retried on another instance; a write is retried only when
  it never reached one. Send `Idempotency-Key` and retry a failed write with the same key.
"""

_GATEWAY_ERROR_HEADER = {"description": "The kind of error the gateway answered itself (absent on a service's "
                                        "answer)", "schema": {"type": "string"}}
_RATE_HEADERS = {
    "RateLimit-Policy": {"description": "The client's limit (draft-ietf-httpapi-ratelimit-headers)",
                         "schema": {"type": "string"}},
    "RateLimit": {"description": "What is left of the client's limit, and when it resets",
                  "schema": {"type": "string"}},
}


def _problem_response(description: str, **headers: dict[str, Any]) -> dict[str, Any]:
    return {"description": description,
            "headers": {GATEWAY_ERROR: _GATEWAY_ERROR_HEADER, **headers},
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": f"#/components/schemas/{PROBLEM_SCHEMA}"}}}}


GATEWAY_PROBLEM = {
    "type": "object", "title": PROBLEM_SCHEMA, "required": ["type", "title", "status", "detail"],
    "additionalProperties": True,
    "description": "An RFC 9457 problem document the gateway answered itself",
    "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                   "detail": {"type": "string"}, "instance": {"type": "string"},
                   "service": {"type": "string"}, "checks": {"type": "object"}}}
UNAUTHORIZED = _problem_response("No credential, or one the gateway does not accept (gateway)", **{
    "WWW-Authenticate": {"description": "The challenge", "schema": {"type": "string"}}})
FORBIDDEN = _problem_response("The credential lacks the scope this route needs (gateway)")
TOO_LARGE = _problem_response("The request body is larger than gateway.max_body_bytes (gateway)")
RATE_LIMITED = _problem_response("The client is over its rate limit (gateway)", **_RATE_HEADERS, **{
    "Retry-After": {"description": "Seconds until a request may succeed", "schema": {"type": "string"}}})
BAD_GATEWAY = _problem_response("Every instance tried failed or closed the connection (gateway)")
GATEWAY_TIMEOUT = _problem_response("The instance did not answer within gateway.timeout_ms (gateway)")
NO_INSTANCE = "no healthy instance of the service (gateway, with X-Gateway-Error and Retry-After)"
NO_ROUTE = _problem_response("No service owns this path (gateway)")


class GatewayDocument:
    """Builds the document on request; `fetch_timeout` bounds each instance's answer."""

    def __init__(self, routes: RouteTable, upstreams: Upstreams, auth: Authenticator, *, admin: bool,
                 upstream_api_key: str = "", fetch_timeout: float = 5.0, max_age: float = 30.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._routes = routes
        self._upstreams = upstreams
        self._auth = auth
        self._admin = admin
        self._upstream_key = upstream_api_key
        self._timeout = fetch_timeout
        self._max_age = max_age
        self._monotonic = monotonic
        self._fetched: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def document(self) -> dict[str, Any]:
        services = sorted(set(self._routes.services()) | ({ADMIN_SERVICE} if self._admin else set()))
        async with self._lock:
            for service in services:
                fetched = self._fetched.get(service)
                fresh = fetched is not None and self._monotonic() - fetched[0] <= self._max_age
                if not fresh and (doc := await self._fetch(service)) is not None:
                    self._fetched[service] = (self._monotonic(), doc)
        return self.compose({s: self._fetched[s][1] for s in services if s in self._fetched},
                            [s for s in services if s not in self._fetched])

    async def _fetch(self, service: str) -> dict[str, Any] | None:
        """The service's document from the first routable instance that gives one."""
        assert self._session is not None, "the app's startup opens the session"
        headers = {API_KEY_HEADER: self._upstream_key} if self._upstream_key else {}
        for record in self._upstreams.routable(service):
            try:
                async with self._session.get(record.address.rstrip("/") + "/openapi.json",
                                             headers=headers) as answer:
                    if answer.status == 200:
                        doc = await answer.json(content_type=None)
                        if isinstance(doc, dict) and isinstance(doc.get("paths"), dict):
                            return doc
                    log.info("%s answered %d for its OpenAPI document", record.key, answer.status)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                log.info("%s gave no OpenAPI document: %s", record.key, exc or type(exc).__name__)
        return None

    # -- composing (pure) -------------------------------------------------------------------

    def compose(self, docs: dict[str, dict[str, Any]], missing: list[str]) -> dict[str, Any]:
        """The gateway's document from the services' `docs` (by service name)."""
        schemas: dict[str, Any] = {PROBLEM_SCHEMA: GATEWAY_PROBLEM}
        schemes = self._security_schemes()
        paths: dict[str, Any] = {}
        tags: dict[str, Any] = {}
        for service, doc in sorted(docs.items()):
            components = doc.get("components") or {}
            used = False
            for path, item in (doc.get("paths") or {}).items():
                if self._admin and service == ADMIN_SERVICE and path.startswith(ADMIN_PREFIX + "/"):
                    paths[path] = self._admin_item(item)
                    used = True
                    continue
                route = self._routes.match(path)
                if route is None or route.service != service:
                    continue
                paths[path] = self._forwarded_item(item, route)
                used = True
            if not used:
                continue
            for name, schema in (components.get("schemas") or {}).items():
                if schemas.setdefault(name, schema) != schema:
                    log.warning("the OpenAPI schema %s of %s differs from another service's: the gateway "
                                "documents the first one", name, service)
            if self._admin and service == ADMIN_SERVICE:
                schemes.update(components.get("securitySchemes") or {})
            for tag in doc.get("tags") or []:
                tags.setdefault(tag["name"], tag)
        paths.update(self._own_paths())
        tags["gateway"] = {"name": "gateway", "description": "The gateway's own endpoints."}
        version = next((d.get("info", {}).get("version") for d in docs.values()), "0")
        out: dict[str, Any] = {
            "openapi": next((d["openapi"] for d in docs.values() if "openapi" in d), "3.1.0"),
            "info": {"title": "orderhex gateway", "version": version, "description": DESCRIPTION},
            "paths": dict(sorted(paths.items())),
            "components": {"schemas": schemas, "responses": {"NoRoute": NO_ROUTE}},
            "tags": list(tags.values())}
        if schemes:
            out["components"]["securitySchemes"] = schemes
        if missing:
            out["x-orderhex-missing"] = missing
        return out

    def _security_schemes(self) -> dict[str, Any]:
        schemes: dict[str, Any] = {}
        if self._auth.takes_api_keys:
            schemes[API_KEY_SCHEME] = {"type": "apiKey", "in": "header", "name": API_KEY_HEADER,
                                       "description": "a client's key (gateway.api_key)"}
        if self._auth.takes_jwts:
            schemes[JWT_SCHEME] = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                   "description": "an HS256 JWT with exp, sub and scope (gateway.jwt_key)"}
        return schemes

    def _security(self, scope: str) -> list[dict[str, list[str]]]:
        # OpenAPI 3.1 lets a non-OAuth requirement list roles: here, the scope the route needs.
        return [{name: [scope]} for name in self._security_schemes()]

    def _forwarded_item(self, item: dict[str, Any], route: Route) -> dict[str, Any]:
        out = copy.deepcopy(item)
        for method in METHODS:
            operation = out.get(method)
            if operation is None:
                continue
            operation["parameters"] = [p for p in operation.get("parameters", [])
                                       if not (p.get("in") == "header" and p.get("name", "").lower()
                                               in CREDENTIAL_HEADERS)]
            responses = operation.setdefault("responses", {})
            scope = route.scope_for(method)
            if self._auth.enabled:
                operation["security"] = self._security(scope)
                responses["401"], responses["403"] = UNAUTHORIZED, FORBIDDEN
                operation["description"] = (operation.get("description", "") +
                                            f"\n\nThrough the gateway: needs the scope `{scope}`.").strip()
            else:
                operation.pop("security", None)
            responses["429"] = RATE_LIMITED
            responses["502"], responses["504"] = BAD_GATEWAY, GATEWAY_TIMEOUT
            _with_no_instance(responses)
            if method in WRITES:
                responses.setdefault("413", TOO_LARGE)
            operation.setdefault("tags", [route.service])
        return out

    def _admin_item(self, item: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(item)
        for method in METHODS:
            operation = out.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            responses["403"] = _problem_response("The gateway has no admin token (api.admin_token) (gateway)")
            responses["502"] = BAD_GATEWAY
            _with_no_instance(responses)
            if method in WRITES:
                responses.setdefault("413", TOO_LARGE)
        return out

    def _own_paths(self) -> dict[str, Any]:
        def json_body(description: str) -> dict[str, Any]:
            return {"description": description, "content": {"application/json": {"schema": {"type": "object"}}}}

        upstreams: dict[str, Any] = {
            "tags": ["gateway"], "operationId": "gateway_upstreams", "summary": "The gateway's upstream instances",
            "description": "Every instance the gateway knows: health and its transitions, ejection, breaker, "
                           "requests in flight; the partition guard's state. Needs the `admin` scope.",
            "responses": {"200": json_body("The instances by service")}}
        if self._auth.enabled:
            upstreams["security"] = self._security(ADMIN_SCOPE)
            upstreams["responses"] |= {"401": UNAUTHORIZED, "403": FORBIDDEN}
        return {
            "/health": {"get": {"tags": ["gateway"], "operationId": "gateway_health", "summary": "Liveness",
                                "responses": {"200": json_body("The gateway runs; `auth` says whether it "
                                                               "asks for credentials")}}},
            "/ready": {"get": {"tags": ["gateway"], "operationId": "gateway_ready", "summary": "Readiness",
                               "responses": {"200": json_body("Every routed service has a healthy instance"),
                                             "503": _problem_response("A routed service has no healthy instance; "
                                                                      "`checks` names each (gateway)")}}},
            "/metrics": {"get": {"tags": ["gateway"], "operationId": "gateway_metrics",
                                 "summary": "Prometheus metrics", "responses": {"200": {
                                     "description": "The exposition text",
                                     "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/gateway/upstreams": {"get": upstreams},
            "/openapi.json": {"get": {"tags": ["gateway"], "operationId": "gateway_openapi",
                                      "summary": "This document",
                                      "responses": {"200": json_body("The gateway's OpenAPI document")}}},
        }


def _with_no_instance(responses: dict[str, Any]) -> None:
    """A service's own 503 (a dependency down) and the gateway's (no instance) share the status."""
    own = responses.get("503")
    if own is None:
        responses["503"] = _problem_response(NO_INSTANCE[0].upper() + NO_INSTANCE[1:])
        return
    merged = copy.deepcopy(own)
    merged["description"] = f"{own.get('description', 'Unavailable')}; or {NO_INSTANCE}"
    merged.setdefault("headers", {})[GATEWAY_ERROR] = _GATEWAY_ERROR_HEADER
    responses["503"] = merged
