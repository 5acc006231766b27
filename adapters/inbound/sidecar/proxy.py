"""The sidecar's HTTP side: an ASGI app (Starlette) in front of one service instance.

Its own routes: `/health` (what the registry's and the gateway's probes read: 200 while the
service is up and the instance is offered, 503 otherwise, with the lease and recent transitions),
`/metrics` (the sidecar's Prometheus metrics), `/config` (the service's effective configuration,
secrets redacted), `POST /sidecar/drain` and `POST /sidecar/stop` (admin token). Every other
request is checked for its credential (an API key in X-API-Key, or a JWT in Authorization: Bearer,
verified as the gateway verifies it: adapters/inbound/tokens.py), proxied to the service with its
body streamed both ways, and written to the access log."""

from __future__ import annotations

import contextlib
import hmac
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.process_collector import ProcessCollector
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from adapters.inbound.sidecar.keeper import Keeper
from adapters.inbound.tokens import TokenRefused, verify_jwt

access_log = logging.getLogger("orderhex.sidecar.access")
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PROBLEM_TYPE = "application/problem+json"
# Connection-level headers are the hop's own, never forwarded (RFC 9110 7.6.1).
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "transfer-encoding", "upgrade", "host"})
OPEN_PATHS = frozenset({"/health", "/metrics"})
SECRET_KEY = re.compile(r"(token|key|password|secret)$")
URL_PASSWORD = re.compile(r"(?P<head>^[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@]*:)(?P<password>[^/?#]+)(?P<at>@)")
QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)[^&#]*", re.IGNORECASE)


def redacted(key: str, value: Any) -> Any:
    """A setting as /config shows it: secrets as "***", URLs with their password masked."""
    if SECRET_KEY.search(key) and value:
        return "***"
    if isinstance(value, str) and "://" in value:
        return QUERY_PASSWORD.sub(r"\g<head>***", URL_PASSWORD.sub(r"\g<head>***\g<at>", value))
    return value


@dataclass(frozen=True)
class SidecarSettings:
    service: str
    upstream: str
    api_keys: tuple[str, ...]  # empty, and no jwt_key: no auth here (a warning is logged at start)
    upstream_key: str = ""  # what the service itself asks for (api.api_key), sent on every proxied request
    admin_token: str = ""
    jwt_key: str = ""  # the HS256 secret of accepted JWTs; empty: JWTs are refused
    timeout: float = 30.0
    connect_timeout: float = 2.0


class SidecarMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        self.requests = Counter("orderhex_sidecar_requests", "Requests through the sidecar, by method and status.",
                                ["method", "status"], registry=self.registry)
        self.seconds = Histogram("orderhex_sidecar_request_seconds", "Time to the response's head, through the "
                                 "sidecar.", registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))
        self.refused = Counter("orderhex_sidecar_auth_refused", "Requests refused for their credentials, by reason.",
                               ["reason"], registry=self.registry)
        self.upstream_errors = Counter("orderhex_sidecar_upstream_errors", "Requests the service did not answer, "
                                       "by reason.", ["reason"], registry=self.registry)
        self.up = Gauge("orderhex_sidecar_upstream_up", "1 while the service's health checks pass.",
                        registry=self.registry)
        self.registered = Gauge("orderhex_sidecar_registered", "1 while the instance is in the registry.",
                                registry=self.registry)

    def total(self) -> float:
        return sum(s.value for m in self.requests.collect() for s in m.samples if s.name.endswith("_total"))


def problem(status: int, title: str, detail: str, path: str, headers: dict[str, str] | None = None) -> JSONResponse:
    kind = title.lower().replace(" ", "-")
    return JSONResponse({"type": f"urn:orderhex:problem:{kind}", "title": title, "status": status, "detail": detail,
                         "instance": path}, status_code=status, media_type=PROBLEM_TYPE, headers=headers)


class Sidecar:
    """The routes' handlers over one keeper; `config_rows` are (key, value, source) of the service's
    effective configuration; `on_stop` ends the process (POST /sidecar/stop)."""

    def __init__(self, settings: SidecarSettings, keeper: Keeper, config_rows: Iterable[tuple[str, Any, str]], *,
                 on_stop: Callable[[], None]) -> None:
        self.settings = settings
        self.keeper = keeper
        self.metrics = SidecarMetrics()
        self._config = {key: {"value": redacted(key, value), "source": source} for key, value, source in config_rows}
        self._on_stop = on_stop
        self._upstream = settings.upstream.rstrip("/")
        self._client: httpx.AsyncClient | None = None

    def app(self) -> Starlette:
        methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        routes = [Route("/health", self.health), Route("/metrics", self.metrics_page),
                  Route("/config", self.config_page), Route("/sidecar/drain", self.drain, methods=["POST"]),
                  Route("/sidecar/stop", self.stop, methods=["POST"]),
                  Route("/{path:path}", self.proxy, methods=methods)]
        return Starlette(routes=routes, lifespan=self._lifespan)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        # httpx, not aiohttp: aiohttp is not installed here (FIELD-NOTES measured it 7x faster as a
        # proxy client; the hop's cost is for bench/sidecar.py to show).
        settings = self.settings
        async with httpx.AsyncClient(timeout=httpx.Timeout(settings.timeout, connect=settings.connect_timeout),
                                     limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
                                     follow_redirects=False) as client:
            self._client = client
            yield

    # -- checks ----------------------------------------------------------------------------------

    def authorised(self, request: Request) -> Response | None:
        """None when the request may pass; else the 401 to send. An X-API-Key, when given, is what
        is checked; otherwise an `Authorization: Bearer <JWT>`."""
        settings = self.settings
        if not (settings.api_keys or settings.jwt_key) or request.url.path in OPEN_PATHS:
            return None
        given = request.headers.get("x-api-key")
        if given is not None:
            if any(hmac.compare_digest(given.encode(), key.encode()) for key in settings.api_keys):
                return None
            return self._refused(request, "wrong", "the X-API-Key is not valid")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            if not settings.jwt_key:
                return self._refused(request, "jwt", "this sidecar accepts no JWTs (sidecar.jwt_key is not set)")
            try:
                verify_jwt(token.strip(), settings.jwt_key)
            except TokenRefused as exc:
                return self._refused(request, "jwt", str(exc))
            return None
        accepted = " or ".join(x for x, on in (("the X-API-Key header", bool(settings.api_keys)),
                                               ("Authorization: Bearer <JWT>", bool(settings.jwt_key))) if on)
        return self._refused(request, "missing", f"{settings.service} needs {accepted}")

    def _refused(self, request: Request, reason: str, detail: str) -> Response:
        self.metrics.refused.labels(reason).inc()
        schemes = ", ".join(x for x, on in (("ApiKey", bool(self.settings.api_keys)),
                                            ("Bearer", bool(self.settings.jwt_key))) if on)
        return problem(401, "Unauthorized", detail, request.url.path, {"WWW-Authenticate": schemes})

    def admin(self, request: Request) -> Response | None:
        token = self.settings.admin_token
        if not token:
            return problem(403, "Forbidden", "no admin token is set (api.admin_token)", request.url.path)
        if not hmac.compare_digest(request.headers.get("authorization", "").encode(), f"Bearer {token}".encode()):
            return problem(401, "Unauthorized", "this needs 'Authorization: Bearer <admin token>'", request.url.path,
                           {"WWW-Authenticate": "Bearer"})
        return None

    def status(self) -> dict[str, Any]:
        keeper = self.keeper
        health = keeper.health
        remaining = keeper.lease_remaining()
        self.metrics.up.set(1 if health.up else 0)
        self.metrics.registered.set(1 if keeper.registered else 0)
        return {"status": "draining" if keeper.draining else health.state, "service": self.settings.service,
                "instance_id": keeper.record.instance_id, "address": keeper.record.address,
                "upstream": self.settings.upstream, "registered": keeper.registered,
                "lease": {"ttl_seconds": keeper.ttl_seconds,
                          "remaining_seconds": None if remaining is None else round(remaining, 2)},
                "last_probe": health.last_reason, "requests": self.metrics.total(),
                "transitions": [{"at": t.at.isoformat(), "previous": t.previous, "state": t.state,
                                 "reason": t.reason} for t in health.transitions]}

    # -- the sidecar's own routes ----------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        body = self.status()
        return JSONResponse(body, status_code=200 if body["status"] == "up" else 503)

    async def metrics_page(self, request: Request) -> Response:
        self.status()  # the gauges are read at scrape time
        return Response(generate_latest(self.metrics.registry), media_type=METRICS_TYPE)

    async def config_page(self, request: Request) -> Response:
        if (refused := self.authorised(request)) is not None:
            return refused
        return JSONResponse({"service": self.settings.service, "settings": self._config})

    async def drain(self, request: Request) -> Response:
        if (refused := self.admin(request)) is not None:
            return refused
        self.keeper.drain()
        return JSONResponse(self.status(), status_code=202)

    async def stop(self, request: Request) -> Response:
        if (refused := self.admin(request)) is not None:
            return refused
        self.keeper.drain()
        self._on_stop()
        return JSONResponse({**self.status(), "status": "stopping"}, status_code=202)

    # -- proxying --------------------------------------------------------------------------------

    async def proxy(self, request: Request) -> Response:
        started = time.perf_counter()
        request_id = request.headers.get("x-request-id") or str(uuid.uuid4())
        response = self.authorised(request) or await self.forward(request, request_id)
        elapsed = time.perf_counter() - started
        self.metrics.requests.labels(request.method, str(response.status_code)).inc()
        self.metrics.seconds.observe(elapsed)
        response.headers["X-Request-Id"] = request_id
        access_log.info("%s %s %d %.1f ms", request.method, request.url.path, response.status_code, elapsed * 1000,
                        extra={"method": request.method, "path": request.url.path, "status": response.status_code,
                               "duration_ms": round(elapsed * 1000, 2),
                               "client": request.client.host if request.client else "", "request_id": request_id,
                               "service": self.settings.service, "instance_id": self.keeper.record.instance_id})
        return response

    async def forward(self, request: Request, request_id: str) -> Response:
        settings, client = self.settings, self._client
        assert client is not None, "the app's lifespan opens the client"
        headers = [(k, v) for k, v in request.headers.items() if k not in HOP_BY_HOP and k not in _REPLACED]
        headers += [("x-request-id", request_id), ("x-forwarded-for", request.client.host if request.client else ""),
                    ("x-forwarded-host", request.headers.get("host", ""))]
        if settings.upstream_key:
            headers.append(("x-api-key", settings.upstream_key))
        has_body = "content-length" in request.headers or "transfer-encoding" in request.headers
        url = self._upstream + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        outgoing = client.build_request(request.method, url, headers=headers,
                                        content=request.stream() if has_body else None)
        try:
            answer = await client.send(outgoing, stream=True)
        except httpx.TimeoutException:
            self.metrics.upstream_errors.labels("timeout").inc()
            return problem(504, "Gateway Timeout", f"{settings.service} at {settings.upstream} did not answer in "
                           f"{settings.timeout:g} s", request.url.path)
        except httpx.TransportError as exc:
            self.metrics.upstream_errors.labels("unreachable").inc()
            return problem(502, "Bad Gateway", f"{settings.service} at {settings.upstream} cannot be reached: "
                           f"{exc or type(exc).__name__}", request.url.path)
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
        return StreamingResponse(answer.aiter_raw(), status_code=answer.status_code, headers=kept,
                                 background=BackgroundTask(answer.aclose))


# The client's key is checked here and not passed on; the rest the sidecar sets itself.
_REPLACED = frozenset({"x-api-key", "x-request-id", "x-forwarded-for", "x-forwarded-host"})
