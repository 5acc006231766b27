"""The gateway's HTTP server (aiohttp.web, the same event loop as its aiohttp client): its own
/health, /ready, /metrics, /openapi.json and /gateway/upstreams (admin scope); with an Admin, the
whole system's admin API under /admin (adapters/inbound/gateway/admin.py); every other path proxied.
Whatever fails in the server itself (a method a route does not take, a handler's bug) is answered
as problem+json too, so every error the gateway makes is one.

aiohttp.web rather than Starlette on uvicorn: one library and one loop for both sides of the
proxy, and a request body read once and resent on a retry. (A side-by-side measurement of the
two servers under this proxy is still to be done; bench/gateway.py measures this one.)
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from adapters.inbound.gateway.admin import Admin
from adapters.inbound.gateway.auth import API_KEY_HEADER, AuthFailed
from adapters.inbound.gateway.metrics import HEALTH_VALUES
from adapters.inbound.gateway.openapi import GatewayDocument
from adapters.inbound.gateway.problems import TITLES, problem
from adapters.inbound.gateway.proxy import Proxy
from adapters.inbound.gateway.routes import ADMIN_SCOPE
from core.runtime.breaker import BreakerState

PROXY_KEY: web.AppKey[Proxy] = web.AppKey("proxy", Proxy)
DOCUMENT_KEY: web.AppKey[GatewayDocument] = web.AppKey("document", GatewayDocument)
log = logging.getLogger("orderhex.gateway")
# Any rest of a path, a newline (%0A) included: `.*` stops at one, and the request got aiohttp's 404.
ANY_PATH = r"[\s\S]*"


@web.middleware
async def errors_as_problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        kind = TITLES.get(exc.status, exc.reason).lower().replace(" ", "-")
        kept = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
        return problem(exc.status, kind, f"{exc.reason}: {request.method} {request.path}", request.path, kept)
    except Exception:
        log.exception("the gateway failed on %s %s", request.method, request.path)
        return problem(500, "internal", "the gateway failed on this request; its log has the details",
                       request.path)


def make_app(proxy: Proxy, admin: Admin | None = None) -> web.Application:
    app = web.Application(client_max_size=proxy.settings.max_body_bytes, handler_args={"max_field_size": 16_384},
                          middlewares=[errors_as_problems])
    app[PROXY_KEY] = proxy
    document = GatewayDocument(proxy.routes, proxy.upstreams, proxy.auth, admin=admin is not None,
                               upstream_api_key=proxy.settings.upstream_api_key, fetch_timeout=proxy.settings.timeout)
    app[DOCUMENT_KEY] = document
    for path, handler in (("/health", health), ("/ready", ready), ("/metrics", metrics), ("/openapi.json", openapi),
                          ("/gateway/upstreams", upstreams)):
        app.router.add_get(path, handler)
        # Else another method would fall through to the proxy and get a 404 for a path that exists.
        app.router.add_route("*", path, _only_get)
    if admin is not None:
        admin.add_routes(app.router, ANY_PATH)
    app.router.add_route("*", "/{tail:" + ANY_PATH + "}", proxy.handle)

    async def started(_: web.Application) -> None:
        await proxy.start()
        await document.start()
        if admin is not None:
            await admin.start()

    async def stopped(_: web.Application) -> None:
        await proxy.close()
        await document.close()
        if admin is not None:
            await admin.close()

    async def shutting_down(_: web.Application) -> None:
        if admin is not None:
            admin.end_streams()

    app.on_startup.append(started)
    app.on_shutdown.append(shutting_down)
    app.on_cleanup.append(stopped)
    return app


async def _only_get(request: web.Request) -> web.Response:
    raise web.HTTPMethodNotAllowed(request.method, ("GET", "HEAD"))


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=json.dumps(payload).encode(), content_type="application/json")


async def health(request: web.Request) -> web.Response:
    proxy = request.app[PROXY_KEY]
    return _json({"status": "ok", "auth": "on" if proxy.auth.enabled else "off"})


async def ready(request: web.Request) -> web.Response:
    """200 when every routed service has an instance to route to; else 503 naming those without."""
    proxy = request.app[PROXY_KEY]
    checks = {}
    for service in proxy.routes.services():
        listed, routable = proxy.upstreams.instances(service), proxy.upstreams.routable(service)
        checks[service] = f"ok: {len(routable)} of {len(listed)} instances" if routable else \
            f"no healthy instance ({len(listed)} registered)"
    down = [s for s, state in checks.items() if not state.startswith("ok")]
    if down:
        return problem(503, "not-ready", f"not ready: no healthy instance of {', '.join(down)}", request.path,
                       {"Retry-After": "1"}, checks=checks)
    view = proxy.upstreams.view()
    return _json({"status": "ready", "checks": checks, "partition_hold": view.reason if view.holding else None})


async def metrics(request: web.Request) -> web.Response:
    proxy = request.app[PROXY_KEY]
    m = proxy.metrics
    for gauge in (m.upstream_health, m.upstream_ejected, m.breaker_state):
        gauge.clear()
    for record in proxy.upstreams.all():
        m.upstream_health.labels(record.service, record.instance_id).set(
            HEALTH_VALUES[proxy.upstreams.health.health(record.key).state])
        m.upstream_ejected.labels(record.service, record.instance_id).set(int(proxy.ejector.ejected(record.key)))
    for breaker in proxy.breakers.all():
        current = breaker.snapshot().state
        for state in BreakerState:
            m.breaker_state.labels(breaker.name, str(state)).set(int(state == current))
    m.partition_hold.set(int(proxy.upstreams.view().holding))
    return web.Response(body=m.exposition(), headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


async def openapi(request: web.Request) -> web.Response:
    return _json(await request.app[DOCUMENT_KEY].document())


async def upstreams(request: web.Request) -> web.Response:
    """Every instance the gateway knows: health and its transitions, ejection, breaker, requests
    in flight; and the partition guard's state. Needs the admin scope."""
    proxy = request.app[PROXY_KEY]
    try:
        principal = proxy.auth.authenticate(request.headers.get(API_KEY_HEADER), request.headers.get("Authorization"),
                                            request.remote or "-")
        proxy.auth.authorize(principal, ADMIN_SCOPE)
    except AuthFailed as exc:
        kind = "unauthorized" if exc.status == 401 else "forbidden"
        return problem(exc.status, kind, exc.detail, request.path)
    view = proxy.upstreams.view()
    breakers = {b.name: b for b in proxy.breakers.all()}
    out: dict[str, list[dict[str, Any]]] = {}
    for record in proxy.upstreams.all():
        health = proxy.upstreams.health.health(record.key)
        breaker = breakers.get(f"gateway:{record.key}")
        out.setdefault(record.service, []).append({
            **record.to_json(), "health": health.state, "down_reason": health.down_reason,
            "transitions": [{"at": t.at.isoformat(), "from": t.previous, "to": t.state, "reason": t.reason}
                            for t in health.transitions],
            "ejected": proxy.ejector.reason(record.key) or None,
            "breaker": str(breaker.snapshot().state) if breaker else "closed",
            "outstanding": proxy.balancer.outstanding(record.key)})
    return _json({"services": out, "balance": proxy.balancer.mode,
                  "partition": {"holding": view.holding, "reason": view.reason,
                                "since": view.since.isoformat() if view.since else None}})
