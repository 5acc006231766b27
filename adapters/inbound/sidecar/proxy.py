"""The sidecar's HTTP side: an aiohttp.web app in front of one service instance, with one aiohttp
client session to it.

Its own routes: `/health` (what the registry's and the gateway's probes read: 200 while the
service is up and the instance is offered, 503 otherwise, with the lease and recent transitions),
`/metrics` (the sidecar's Prometheus metrics), `/config` (the service's effective configuration,
secrets redacted), `POST /sidecar/drain` and `POST /sidecar/stop` (admin token); another method on
one of them is a 405. Every other request is checked for its credential (an API key in X-API-Key,
or a JWT in Authorization: Bearer, verified as the gateway verifies it: adapters/inbound/tokens.py),
proxied to the service with its body streamed both ways, and written to the access log. Every
error the sidecar answers itself is problem+json.

aiohttp on both sides rather than Starlette, uvicorn and an httpx client, whose pool bookkeeping
took 30-45% of the sidecar's CPU: bench/sidecar.py, back to back on the same loaded machine, measured
1.96 ms of sidecar CPU per request and 0.18x the direct path's throughput with those, 0.28 ms and
0.63x with these.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import CIMultiDict
from yarl import URL

from adapters.inbound.sidecar.keeper import Keeper
from adapters.inbound.sidecar.metrics import METRICS_TYPE, SidecarMetrics
from adapters.inbound.tokens import TokenRefused, verify_jwt

log = logging.getLogger("orderhex.sidecar")
access_log = logging.getLogger("orderhex.sidecar.access")
PROBLEM_TYPE = "application/problem+json"
EVENT_STREAM = "text/event-stream"
# Connection-level headers are the hop's own, never forwarded (RFC 9110 7.6.1).
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "transfer-encoding", "upgrade", "host"})
# The client's key is checked here and not passed on; the rest the sidecar sets itself.
REPLACED = frozenset({"x-api-key", "x-request-id", "x-forwarded-for", "x-forwarded-host"})
NOT_FORWARDED = HOP_BY_HOP | REPLACED
PROXIED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# An answer of known length up to this is read whole and sent with its head in one write; a longer
# one, or one of unknown length (an event stream), is relayed chunk by chunk as it arrives.
READ_WHOLE_BYTES = 256 * 1024
# How often an open event stream looks whether its client is still there.
CLIENT_CHECK_SECONDS = 0.5
# Any rest of a path, a newline (%0A) included: `.*` stops at one.
ANY_PATH = r"[\s\S]*"
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
    timeout: float = 30.0  # for a connection from the pool, and between two reads of an answer
    connect_timeout: float = 2.0
    # Below the service's own keep-alive (api.keep_alive_s, 5 s): a connection it may be closing
    # is never reused, so a POST is not lost to that race (aiohttp retries only idempotent ones).
    keepalive_seconds: float = 4.0
    max_connections: int = 200


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=json.dumps(payload, separators=(",", ":")).encode(),
                        content_type="application/json")


def problem(status: int, title: str, detail: str, path: str, headers: dict[str, str] | None = None) -> web.Response:
    kind = title.lower().replace(" ", "-")
    body = {"type": f"urn:orderhex:problem:{kind}", "title": title, "status": status, "detail": detail,
            "instance": path}
    return web.Response(status=status, body=json.dumps(body).encode(),
                        headers={"Content-Type": PROBLEM_TYPE, **(headers or {})})


@web.middleware
async def errors_as_problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    """What fails in the server itself (a handler's bug, an HTTP error aiohttp raises) is answered
    as problem+json too, unless an answer's head has already gone out."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        kept = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
        return problem(exc.status, exc.reason, f"{exc.reason}: {request.method} {request.path}", request.path, kept)
    except Exception:
        if request.writer.output_size:
            raise
        log.exception("the sidecar failed on %s %s", request.method, request.path)
        return problem(500, "Internal Server Error", "the sidecar failed on this request; its log has the details",
                       request.path)


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
        self._session: aiohttp.ClientSession | None = None
        self._streams: set[asyncio.Task[Any]] = set()

    def app(self) -> web.Application:
        app = web.Application(handler_args={"max_field_size": 16_384}, middlewares=[errors_as_problems])
        own: tuple[tuple[str, str, Handler], ...] = (
            ("GET", "/health", self.health), ("GET", "/metrics", self.metrics_page),
            ("GET", "/config", self.config_page), ("POST", "/sidecar/drain", self.drain),
            ("POST", "/sidecar/stop", self.stop))
        for method, path, handler in own:
            app.router.add_route(method, path, handler)
            # Else another method would reach the service under the sidecar's own path.
            app.router.add_route("*", path, _not_allowed(method))
        app.router.add_route("*", "/{tail:" + ANY_PATH + "}", self.proxy)
        app.on_startup.append(self._open)
        app.on_shutdown.append(self._end_streams)
        app.on_cleanup.append(self._close)
        return app

    async def _open(self, _: web.Application) -> None:
        settings = self.settings
        # One upstream: the pool is its keep-alive connections, reused as long as the service keeps them.
        connector = aiohttp.TCPConnector(limit=settings.max_connections, limit_per_host=0, ttl_dns_cache=None,
                                         keepalive_timeout=settings.keepalive_seconds)
        self._session = aiohttp.ClientSession(
            # The request goes on as the client sent it: no User-Agent, Accept-Encoding or Content-Type
            # it did not send, and the answer's body comes back as the service encoded it.
            connector=connector, auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
            timeout=aiohttp.ClientTimeout(total=None, connect=settings.timeout, sock_connect=settings.connect_timeout,
                                          sock_read=settings.timeout))

    async def _end_streams(self, _: web.Application) -> None:
        # An event stream never ends by itself: the server would wait its whole shutdown timeout for it.
        for task in self._streams:
            task.cancel()

    async def _close(self, _: web.Application) -> None:
        if self._session is not None:
            await self._session.close()

    # -- checks ----------------------------------------------------------------------------------

    def authorised(self, request: web.Request) -> web.Response | None:
        """None when the request may pass; else the 401 to send. An X-API-Key, when given, is what
        is checked; otherwise an `Authorization: Bearer <JWT>`."""
        settings = self.settings
        if not (settings.api_keys or settings.jwt_key):
            return None
        given = request.headers.get("X-API-Key")
        if given is not None:
            if any(hmac.compare_digest(given.encode(), key.encode()) for key in settings.api_keys):
                return None
            return self._refused(request, "wrong", "the X-API-Key is not valid")
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
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

    def _refused(self, request: web.Request, reason: str, detail: str) -> web.Response:
        self.metrics.refused.labels(reason).inc()
        schemes = ", ".join(x for x, on in (("ApiKey", bool(self.settings.api_keys)),
                                            ("Bearer", bool(self.settings.jwt_key))) if on)
        return problem(401, "Unauthorized", detail, request.path, {"WWW-Authenticate": schemes})

    def admin(self, request: web.Request) -> web.Response | None:
        token = self.settings.admin_token
        if not token:
            return problem(403, "Forbidden", "no admin token is set (api.admin_token)", request.path)
        if not hmac.compare_digest(request.headers.get("Authorization", "").encode(), f"Bearer {token}".encode()):
            return problem(401, "Unauthorized", "this needs 'Authorization: Bearer <admin token>'", request.path,
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

    async def health(self, request: web.Request) -> web.Response:
        body = self.status()
        return _json(body, 200 if body["status"] == "up" else 503)

    async def metrics_page(self, request: web.Request) -> web.Response:
        self.status()  # the gauges are read at scrape time
        return web.Response(body=self.metrics.exposition(), headers={"Content-Type": METRICS_TYPE})

    async def config_page(self, request: web.Request) -> web.Response:
        if (refused := self.authorised(request)) is not None:
            return refused
        return _json({"service": self.settings.service, "settings": self._config})

    async def drain(self, request: web.Request) -> web.Response:
        if (refused := self.admin(request)) is not None:
            return refused
        self.keeper.drain()
        return _json(self.status(), 202)

    async def stop(self, request: web.Request) -> web.Response:
        if (refused := self.admin(request)) is not None:
            return refused
        self.keeper.drain()
        self._on_stop()
        return _json({**self.status(), "status": "stopping"}, 202)

    # -- proxying --------------------------------------------------------------------------------

    async def proxy(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        request_id = request.headers.get("X-Request-Id") or str(uuid.uuid4())
        if request.method not in PROXIED_METHODS:
            raise web.HTTPMethodNotAllowed(request.method, sorted(PROXIED_METHODS))
        refused = self.authorised(request)
        if refused is not None:
            return self._answered(request, refused, request_id, started)
        assert self._session is not None, "the app's startup opens the session"
        settings = self.settings
        url = URL(self._upstream + request.raw_path, encoded=True)
        has_body = "Content-Length" in request.headers or "Transfer-Encoding" in request.headers
        try:
            async with self._session.request(request.method, url, headers=self._upstream_headers(request, request_id),
                                             data=request.content if has_body else None,
                                             allow_redirects=False) as upstream:
                headers = CIMultiDict((k, v) for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP)
                length = upstream.content_length
                if length is not None and length <= READ_WHOLE_BYTES:
                    body = await upstream.read()
                    answer = web.Response(status=upstream.status, body=body, headers=headers)
                    return self._answered(request, answer, request_id, started)
                stream = web.StreamResponse(status=upstream.status, headers=headers)
                self._answered(request, stream, request_id, started)
                return await self._relay(request, upstream, stream)
        except aiohttp.ConnectionTimeoutError:
            self.metrics.upstream_errors.labels("timeout").inc()
            failed = problem(504, "Gateway Timeout", f"{settings.service} at {settings.upstream} accepted no "
                             f"connection in {settings.connect_timeout:g} s", request.path)
        except TimeoutError:
            self.metrics.upstream_errors.labels("timeout").inc()
            failed = problem(504, "Gateway Timeout", f"{settings.service} at {settings.upstream} did not answer in "
                             f"{settings.timeout:g} s", request.path)
        except aiohttp.ClientError as exc:
            self.metrics.upstream_errors.labels("unreachable").inc()
            failed = problem(502, "Bad Gateway", f"{settings.service} at {settings.upstream} cannot be reached: "
                             f"{exc or type(exc).__name__}", request.path)
        return self._answered(request, failed, request_id, started)

    def _upstream_headers(self, request: web.Request, request_id: str) -> CIMultiDict[str]:
        headers = CIMultiDict((k, v) for k, v in request.headers.items() if k.lower() not in NOT_FORWARDED)
        headers["X-Request-Id"] = request_id
        headers["X-Forwarded-For"] = request.remote or ""
        headers["X-Forwarded-Host"] = request.headers.get("Host", "")
        if self.settings.upstream_key:
            headers["X-API-Key"] = self.settings.upstream_key
        return headers

    def _answered(self, request: web.Request, response: web.StreamResponse, request_id: str,
                  started: float) -> web.StreamResponse:
        """Counts and logs the answer once its head is known (a stream's body may go on for hours)."""
        elapsed = time.perf_counter() - started
        status = response.status
        self.metrics.requests.labels(request.method, str(status)).inc()
        self.metrics.seconds.observe(elapsed)
        response.headers["X-Request-Id"] = request_id
        access_log.info("%s %s %d %.1f ms", request.method, request.path, status, elapsed * 1000,
                        extra={"method": request.method, "path": request.path, "status": status,
                               "duration_ms": round(elapsed * 1000, 2), "client": request.remote or "",
                               "request_id": request_id, "service": self.settings.service,
                               "instance_id": self.keeper.record.instance_id})
        return response

    async def _relay(self, request: web.Request, upstream: aiohttp.ClientResponse,
                     stream: web.StreamResponse) -> web.StreamResponse:
        """The answer's body, each chunk passed on as it arrives, until the service ends it, the
        client leaves, or the sidecar stops (an event stream then ends as if the service ended it)."""
        await stream.prepare(request)
        task = asyncio.current_task()
        assert task is not None, "aiohttp runs each request's handler in a task"
        endless = EVENT_STREAM in upstream.headers.get("Content-Type", "")
        if endless:
            self._streams.add(task)
            self.metrics.streams.inc()
        try:
            while True:
                try:
                    chunk = await (self._next_event_chunk(request, upstream) if endless else upstream.content.readany())
                except (aiohttp.ClientError, TimeoutError) as exc:
                    # The head is out: cutting the connection is the only way left to tell the client
                    # the body is incomplete (a clean end would pass a truncated body for a whole one).
                    log.warning("%s broke off the answer to %s %s: %s", self.settings.service, request.method,
                                request.path, exc or type(exc).__name__)
                    if request.transport is not None:
                        request.transport.close()
                    return stream
                if not chunk:
                    return stream  # b"": the service ended it; None: the client left
                try:
                    await stream.write(chunk)
                except ConnectionResetError:
                    return stream  # the client left; leaving the `async with` closes the upstream side
        except asyncio.CancelledError:
            if not endless:
                raise
            return stream
        finally:
            if endless:
                self._streams.discard(task)
                self.metrics.streams.dec()

    @staticmethod
    async def _next_event_chunk(request: web.Request, upstream: aiohttp.ClientResponse) -> bytes | None:
        """The next chunk of an event stream, or None once the client has gone. Between two events
        only the connection tells that the client left, and an upstream stream left open would hold
        one of the service's few stream places (api.max_event_streams) until its next heartbeat."""
        reading = asyncio.ensure_future(upstream.content.readany())
        try:
            while True:
                done, _ = await asyncio.wait((reading,), timeout=CLIENT_CHECK_SECONDS)
                if done:
                    return reading.result()
                if request.transport is None or request.transport.is_closing():
                    return None
        finally:
            reading.cancel()


def _not_allowed(allowed: str) -> Handler:
    async def refuse(request: web.Request) -> web.StreamResponse:
        raise web.HTTPMethodNotAllowed(request.method, (allowed, "HEAD") if allowed == "GET" else (allowed,))

    return refuse
