"""`orderhex gateway`: its arguments, and the process: follow the registry, probe the instances,
serve until SIGTERM/SIGINT.

The registry and the prober come from the composition root (bootstrap.py): this adapter family
imports no other one, so it receives a ServiceRegistry and a way to make a prober.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from adapters.inbound import logs
from ports.registry import InstanceRecord, ServiceRegistry
from ports.system import Clock

HELP = "the API gateway: routes, authenticates, rate-limits and balances requests over the services' instances"
log = logging.getLogger("orderhex.gateway")


class Prober(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


ProberFactory = Callable[[Any, Callable[[], Iterable[InstanceRecord]]], Prober]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to bind (default gateway.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to bind (default gateway.port, 8080)")
    parser.add_argument("--log-format", choices=logs.FORMATS, default=None,
                        help="log lines as JSON or text (default log.format)")
    parser.add_argument("--log-level", default=None, choices=("debug", "info", "warning", "error"),
                        help="the least severe lines logged (default log.level)")


def build(config: Mapping[str, Any], registry: ServiceRegistry, clock: Clock, breaker_config: Any) -> Any:
    """The Proxy with everything it needs, from the gateway.* settings (nothing started yet)."""
    from adapters.inbound.gateway.auth import Authenticator, parse_api_keys
    from adapters.inbound.gateway.balancer import Balancer
    from adapters.inbound.gateway.ejection import Ejector
    from adapters.inbound.gateway.metrics import GatewayMetrics
    from adapters.inbound.gateway.proxy import Proxy, ProxySettings
    from adapters.inbound.gateway.ratelimit import RateLimiter
    from adapters.inbound.gateway.retry_budget import BudgetSettings, RetryBudget
    from adapters.inbound.gateway.routes import parse_routes
    from adapters.inbound.gateway.upstreams import Upstreams
    from core.runtime.breaker import BreakerBoard
    from core.runtime.health import GuardSettings, HealthBoard, HealthSettings, PartitionGuard

    routes = parse_routes(config["gateway.routes"])
    health = HealthBoard(clock, HealthSettings(fall=config["health.fall"], rise=config["health.rise"]))
    guard = PartitionGuard(clock, GuardSettings(threshold_percent=config["registry.partition_threshold_percent"],
                                                hold_seconds=config["registry.partition_hold_seconds"]))
    upstreams = Upstreams(registry, guard, health, routes.services(),
                          refresh_seconds=config["gateway.refresh_ms"] / 1000)
    budget = RetryBudget(time.monotonic, BudgetSettings(ratio=config["gateway.retry_budget_percent"] / 100,
                                                        window_seconds=config["gateway.retry_budget_window_s"],
                                                        min_per_second=config["gateway.retry_min_per_second"]))
    return Proxy(
        routes=routes, auth=Authenticator(parse_api_keys(config["gateway.api_key"]), config["gateway.jwt_key"]),
        limiter=RateLimiter(config["gateway.rate_limit"], config["gateway.rate_limit_strategy"]),
        upstreams=upstreams, balancer=Balancer(config["gateway.balance"]),
        ejector=Ejector(time.monotonic, config["gateway.eject_after_failures"], config["gateway.eject_ms"] / 1000),
        budget=budget, breakers=BreakerBoard(monotonic=time.monotonic, now=clock.now), breaker_config=breaker_config,
        metrics=GatewayMetrics(),
        settings=ProxySettings(timeout=config["gateway.timeout_ms"] / 1000,
                               connect_timeout=config["gateway.connect_timeout_ms"] / 1000,
                               retries=config["gateway.retries"], max_body_bytes=config["gateway.max_body_bytes"],
                               upstream_api_key=config["gateway.upstream_api_key"],
                               access_log=config["gateway.access_log"]))


def run(args: argparse.Namespace, config: Mapping[str, Any], *, registry: ServiceRegistry, clock: Clock,
        breaker_config: Any, make_prober: ProberFactory) -> int:
    logs.configure(args.log_format or config["log.format"], args.log_level or config["log.level"])
    host = args.host or config["gateway.host"]
    port = config["gateway.port"] if args.port is None else args.port
    proxy = build(config, registry, clock, breaker_config)
    if not proxy.auth.enabled:
        log.warning("authentication is off: set gateway.api_key or gateway.jwt_key to require credentials")
    proxy.upstreams.start()
    prober = make_prober(proxy.upstreams.health, proxy.upstreams.all)
    prober.start()
    try:
        _serve(proxy, host, port, registry.describe(), config["api.admin_token"])
    finally:
        prober.stop()
        proxy.upstreams.stop()
        registry.close()
    return 0


def _serve(proxy: Any, host: str, port: int, registry: str, admin_token: str) -> None:
    from aiohttp import web

    from adapters.inbound.gateway.admin import Admin
    from adapters.inbound.gateway.app import make_app

    admin = Admin(proxy.upstreams, admin_token, proxy.settings.upstream_api_key, proxy.settings.timeout,
                  proxy.breakers)

    async def main() -> None:
        runner = web.AppRunner(make_app(proxy, admin), access_log=None, shutdown_timeout=10)
        await runner.setup()
        site = web.TCPSite(runner, host, port, backlog=1024)
        await site.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info("gateway serving http://%s:%s (pid %d) over %s; balance %s; routes %s", host, port, os.getpid(),
                 registry, proxy.balancer.mode, ", ".join(f"{r.prefix}->{r.service}" for r in proxy.routes.routes),
                 extra={"event": "gateway_started", "port": port})
        await stop.wait()
        log.info("gateway stopping: finishing requests in flight", extra={"event": "gateway_stopping"})
        await runner.cleanup()

    try:
        import uvloop

        runner: Any = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        runner.run(main())
