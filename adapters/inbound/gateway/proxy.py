"""The data path: one request in, routed, authenticated, rate-limited, forwarded to one healthy
instance of the owning service with an aiohttp client (FIELD-NOTES: 7x httpx as a proxy
client here), retried when that is safe and the budget allows, and answered.

Retries: a request the upstream never received (the connection was refused) is retried
whatever its method; after it may have been received, only a safe one (GET, HEAD, OPTIONS) is.
A write that may have arrived is never sent again, Idempotency-Key or not: after a timeout or a
reset the first attempt may still be running on its instance, and a copy sent to another one
would race it on the service's store; the client gets the failure (502 or 504) and retries with
the same key once it chooses, which the services deduplicate. A retry goes to another instance
when there is one, and every retry is taken from the retry budget.

Every error the gateway answers itself carries `X-Gateway-Error` (problems.py); an upstream's
answer, 5xx included, carries `X-Served-By` instead, so a client can tell the two apart.

Everything here runs on the gateway's one event loop; the breakers and the health board are
thread-safe and shared with the prober's thread.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from yarl import URL

from adapters.inbound.gateway.auth import API_KEY_HEADER, Authenticator, AuthFailed, Principal
from adapters.inbound.gateway.balancer import Balancer
from adapters.inbound.gateway.ejection import Ejector
from adapters.inbound.gateway.ids import REQUEST_ID, TRACEPARENT, Ids, ids_for
from adapters.inbound.gateway.metrics import GatewayMetrics
from adapters.inbound.gateway.problems import GATEWAY_ERROR, problem
from adapters.inbound.gateway.ratelimit import RateLimiter, Verdict
from adapters.inbound.gateway.retry_budget import RetryBudget
from adapters.inbound.gateway.routes import Route, RouteTable
from adapters.inbound.gateway.upstreams import Upstreams
from core.runtime.breaker import BreakerBoard, BreakerConfig, CircuitOpen, Permit
from ports.registry import InstanceRecord

log = logging.getLogger("orderhex.gateway")
access = logging.getLogger("orderhex.gateway.access")

SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))
# Hop-by-hop headers (RFC 9110 7.6.1) and those the client library sets itself.
HOP_BY_HOP = frozenset(h.lower() for h in (
    "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "TE", "Trailer", "Transfer-Encoding",
    "Upgrade", "Host", "Content-Length"))
# An upstream's answer never passes for one of this gateway's own errors.
NOT_RETURNED = HOP_BY_HOP | {GATEWAY_ERROR.lower()}
# The client's credentials stay at the gateway: upstreams get the gateway's own key, if any.
NOT_FORWARDED = HOP_BY_HOP | {API_KEY_HEADER.lower(), "authorization", REQUEST_ID.lower(), TRACEPARENT}
CLIENT_HEADER = "X-Orderhex-Client"
SERVED_BY = "X-Served-By"


@dataclass(frozen=True)
class ProxySettings:
    timeout: float = 5.0
    connect_timeout: float = 0.5
    retries: int = 2
    max_body_bytes: int = 65_536
    upstream_api_key: str = ""
    access_log: bool = True


class UpstreamFailed(Exception):
    """One attempt failed: `outcome` is the metric label, `status` what the gateway answers if it
    was the last attempt (502, 504), `sent` whether the upstream may have received it."""

    def __init__(self, outcome: str, detail: str, status: int, sent: bool) -> None:
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail
        self.status = status
        self.sent = sent


@dataclass
class Answer:
    response: web.StreamResponse
    upstream: str = "-"
    instance: str = "-"
    attempts: int = 0
    delivered: int = 0  # attempts an upstream may have received


class Proxy:
    def __init__(self, *, routes: RouteTable, auth: Authenticator, limiter: RateLimiter, upstreams: Upstreams,
                 balancer: Balancer, ejector: Ejector, budget: RetryBudget, breakers: BreakerBoard,
                 breaker_config: BreakerConfig, metrics: GatewayMetrics, settings: ProxySettings) -> None:
        self.routes = routes
        self.auth = auth
        self.limiter = limiter
        self.upstreams = upstreams
        self.balancer = balancer
        self.ejector = ejector
        self.budget = budget
        self.breakers = breakers
        self.breaker_config = breaker_config
        self.metrics = metrics
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=None, keepalive_timeout=30)
        self._session = aiohttp.ClientSession(
            # The request goes on as the client sent it: no Content-Type it did not send (aiohttp would
            # add application/octet-stream to a bodyless PUT, which a service rightly refuses with 415).
            connector=connector, auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
            timeout=aiohttp.ClientTimeout(total=self.settings.timeout, connect=self.settings.connect_timeout))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    # -- one request ----------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        ids = ids_for(request.headers.get(REQUEST_ID), request.headers.get(TRACEPARENT))
        route = self.routes.match(request.path)
        principal: Principal | None = None
        verdict: Verdict | None = None
        if route is None:
            known = ", ".join(r.prefix for r in sorted(self.routes.routes, key=lambda r: r.prefix))
            answer = Answer(problem(404, "no-route", f"no route for {request.path}: the gateway routes {known}",
                                    request.path))
        else:
            try:
                principal = self.auth.authenticate(request.headers.get(API_KEY_HEADER),
                                                   request.headers.get("Authorization"), request.remote or "-")
                self.auth.authorize(principal, route.scope_for(request.method))
            except AuthFailed as exc:
                answer = Answer(self._refused(exc, request.path))
            else:
                verdict = self.limiter.hit(principal.client)
                if verdict.allowed:
                    answer = await self._forward(request, route, principal, ids)
                else:
                    self.metrics.rate_limited.labels(principal.client).inc()
                    answer = Answer(problem(429, "rate-limited", (
                        f"client {principal.client!r} is over its limit of {self.limiter.rate}; retry in "
                        f"{max(1, verdict.reset_seconds)} s"), request.path))
        response = answer.response
        response.headers[REQUEST_ID] = ids.request_id
        response.headers[TRACEPARENT] = ids.traceparent
        if verdict is not None:
            response.headers.update(verdict.headers())
        took = time.perf_counter() - started
        label = route.prefix if route is not None else "-"
        self.metrics.requests.labels(label, request.method, str(response.status), answer.upstream).inc()
        self.metrics.latency.labels(label).observe(took)
        if self.settings.access_log:
            access.info("%s %s %d", request.method, request.path, response.status, extra={
                "method": request.method, "path": request.path, "route": label, "status": response.status,
                "upstream": answer.upstream, "instance": answer.instance, "attempts": answer.attempts,
                "delivered": answer.delivered,
                "ms": round(took * 1000, 2), "client": principal.client if principal else request.remote,
                "request_id": ids.request_id, "correlation_id": ids.trace_id})
        return response

    def _refused(self, exc: AuthFailed, path: str) -> web.Response:
        headers = {}
        if exc.status == 401:
            challenge = 'Bearer realm="orderhex"' + (f', error="{exc.error}"' if exc.error else "")
            headers["WWW-Authenticate"] = challenge
        kind = "unauthorized" if exc.status == 401 else "forbidden"
        return problem(exc.status, kind, exc.detail, path, headers)

    async def _forward(self, request: web.Request, route: Route, principal: Principal, ids: Ids) -> Answer:
        service = route.service
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return Answer(problem(413, "body-too-large", f"request body is larger than "
                                                         f"{self.settings.max_body_bytes} bytes", request.path))
        safe = request.method in SAFE_METHODS
        headers = self._upstream_headers(request, principal, ids)
        self.budget.request()
        tried: set[str] = set()
        failure: UpstreamFailed | None = None
        last_5xx: Answer | None = None
        attempts = delivered = 0
        while True:
            picked = self._pick(service, tried)
            if isinstance(picked, str):
                if last_5xx is not None:
                    return last_5xx
                if failure is not None:
                    break
                return Answer(problem(503, "no-healthy-instance", f"no healthy instance of {service}: {picked}",
                                      request.path, {"Retry-After": "1"}, service=service), service)
            record, permit = picked
            tried.add(record.key)
            attempts += 1
            try:
                response = await self._attempt(record, permit, request, headers, body)
            except UpstreamFailed as exc:
                failure, last_5xx = exc, None
                delivered += exc.sent
                if attempts > self.settings.retries or (exc.sent and not safe):
                    break
                if not self.budget.try_retry():
                    self.metrics.retries.labels(service, "budget_exhausted").inc()
                    break
                self.metrics.retries.labels(service, "retried").inc()
                continue
            delivered += 1
            response.headers[SERVED_BY] = record.key
            answer = Answer(response, service, record.instance_id, attempts, delivered)
            if response.status >= 500 and safe and attempts <= self.settings.retries \
                    and self.budget.try_retry():
                self.metrics.retries.labels(service, "retried").inc()
                last_5xx, failure = answer, None
                continue
            return answer
        assert failure is not None
        kind = "upstream-timeout" if failure.status == 504 else "upstream-failed"
        return Answer(problem(failure.status, kind, f"{service}: {failure.detail} (after {attempts} "
                                                    f"attempt{'s' if attempts > 1 else ''})", request.path,
                              service=service), service, "-", attempts, delivered)

    def _pick(self, service: str, tried: set[str]) -> tuple[InstanceRecord, Permit] | str:
        """The next instance to try with its breaker's permit: healthy, not ejected, its breaker
        letting the call through, an untried one first. Otherwise why there is none, in words."""
        listed = self.upstreams.instances(service)
        if not listed:
            return "none is registered"
        routable = self.upstreams.routable(service)
        live = [r for r in routable if not self.ejector.ejected(r.key)]
        by_key = {r.key: r for r in ([r for r in live if r.key not in tried] or live)}
        while by_key:
            key = self.balancer.choose(service, list(by_key))
            assert key is not None
            try:
                return by_key[key], self.breakers.ensure(f"gateway:{key}", self.breaker_config).acquire()
            except CircuitOpen:
                del by_key[key]
        down = len(listed) - len(routable)
        ejected = len(routable) - len(live)
        return (f"{len(listed)} registered, {down} down by health checks, {ejected} ejected after failures, "
                f"{len(live)} with an open breaker")

    async def _attempt(self, record: InstanceRecord, permit: Permit, request: web.Request, headers: dict[str, str],
                       body: bytes) -> web.Response:
        assert self._session is not None
        key = record.key
        self.balancer.started(key)
        url = URL(record.address.rstrip("/") + request.raw_path, encoded=True)
        try:
            async with self._session.request(request.method, url, headers=headers, data=body or None,
                                             allow_redirects=False) as upstream:
                content = await upstream.read()
                status = upstream.status
                out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in NOT_RETURNED}
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            # No connection was made: the request never left, so any method may be retried.
            raise self._failed(permit, record, UpstreamFailed("connect", f"{record.address}: {exc}", 502,
                                                              sent=False)) from None
        except TimeoutError:
            raise self._failed(permit, record, UpstreamFailed(
                "timeout", f"{record.address} did not answer within {self.settings.timeout:g} s", 504,
                sent=True)) from None
        except aiohttp.ClientError as exc:
            raise self._failed(permit, record, UpstreamFailed(
                "error", f"{record.address}: {type(exc).__name__}: {exc}", 502, sent=True)) from None
        except BaseException:
            permit.release()
            raise
        finally:
            self.balancer.finished(key)
        if status >= 500:
            self._failed(permit, record, UpstreamFailed("http_5xx", f"HTTP {status}", 502, sent=True))
        else:
            permit.success()
            self.ejector.success(key)
            self.metrics.attempts.labels(record.service, record.instance_id, "ok").inc()
        return web.Response(status=status, body=content, headers=out_headers)

    def _failed(self, permit: Permit, record: InstanceRecord, failure: UpstreamFailed) -> UpstreamFailed:
        """Record a failed attempt on the breaker, the metrics and the ejector; returns `failure`."""
        permit.failure(failure)
        self.metrics.attempts.labels(record.service, record.instance_id, failure.outcome).inc()
        if self.ejector.failure(record.key, failure.detail):
            self.metrics.ejections.labels(record.service, record.instance_id).inc()
            log.warning("ejected %s for %g s: %s", record.key, self.ejector.eject_seconds,
                        self.ejector.reason(record.key),
                        extra={"service": record.service, "instance_id": record.instance_id})
        return failure

    def _upstream_headers(self, request: web.Request, principal: Principal, ids: Ids) -> dict[str, str]:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in NOT_FORWARDED}
        headers[REQUEST_ID] = ids.request_id
        headers[TRACEPARENT] = ids.traceparent
        headers[CLIENT_HEADER] = principal.client
        forwarded_for = request.headers.get("X-Forwarded-For")
        remote = request.remote or ""
        headers["X-Forwarded-For"] = f"{forwarded_for}, {remote}" if forwarded_for else remote
        headers["X-Forwarded-Proto"] = request.scheme
        if self.settings.upstream_api_key:
            headers[API_KEY_HEADER] = self.settings.upstream_api_key
        return headers

