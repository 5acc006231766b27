"""The gateway's HTTP server (aiohttp.web, the same event loop as its aiohttp client): its own
/health, /ready, /metrics and /gateway/upstreams (admin scope); with an Admin, the whole system's
admin API under /admin (adapters/inbound/gateway/admin.py); every other path proxied.

aiohttp.web rather than Starlette on uvicorn: one library and one loop for both sides of the
proxy, and a request body read once and resent on a retry. (A side-by-side measurement of the
two servers under this proxy is still to be done; bench/gateway.py measures this one.)
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from adapters.inbound.gateway.admin import Admin
from adapters.inbound.gateway.auth import API_KEY_HEADER, AuthFailed
from adapters.inbound.gateway.metrics import HEALTH_VALUES
from adapters.inbound.gateway.problems import problem
from adapters.inbound.gateway.proxy import Proxy
from adapters.inbound.gateway.routes import ADMIN_SCOPE
from core.runtime.breaker import BreakerState

PROXY_KEY: web.AppKey[Proxy] = web.AppKey("proxy", Proxy)


def make_app(proxy: Proxy, admin: Admin | None = None) -> web.Application:
    app = web.Application(client_max_size=proxy.settings.max_body_bytes, handler_args={"max_field_size": 16_384})
    app[PROXY_KEY] = proxy
    app.router.add_get("/health", health, allow_head=True)
    app.router.add_get("/ready", ready, allow_head=True)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/gateway/upstreams", upstreams)
    if admin is not None:
        app.router.add_get("/admin/events", admin.events)
        app.router.add_route("*", "/admin/{tail:.*}", admin.forward)
    app.router.add_route("*", "/{tail:.*}", proxy.handle)

    async def started(_: web.Application) -> None:
        await proxy.start()
        if admin is not None:
            await admin.start()

    async def stopped(_: web.Application) -> None:
        await proxy.close()
        if admin is not None:
            await admin.close()

    async def shutting_down(_: web.Application) -> None:
        if admin is not None:
            admin.end_streams()

    app.on_startup.append(started)
    app.on_shutdown.append(shutting_down)
    app.on_cleanup.append(stopped)
    return app


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
