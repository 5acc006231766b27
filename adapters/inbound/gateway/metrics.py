"""The gateway's Prometheus metrics, on a registry of its own: requests by route, method,
status and upstream service; latency by route; attempts by upstream instance and outcome;
retries (done or refused by the budget); rate-limited requests by client; passive ejections;
and, computed at each scrape, each instance's health and each breaker's state."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
HEALTH_VALUES = {"up": 1, "down": 0, "unknown": -1}


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=False)
        self.requests = Counter("orderhex_gateway_requests", "Requests through the gateway, by route, method, status "
                                "and upstream service ('-' when none was chosen).",
                                ["route", "method", "status", "upstream"], registry=registry)
        self.latency = Histogram("orderhex_gateway_request_seconds", "Time from a request's arrival to its answer.",
                                 ["route"], buckets=BUCKETS, registry=registry)
        self.attempts = Counter("orderhex_gateway_upstream_attempts", "Requests sent to an upstream instance, by "
                                "outcome (ok, http_5xx, connect, timeout, error).",
                                ["service", "instance", "outcome"], registry=registry)
        self.retries = Counter("orderhex_gateway_retries", "Retries, by service and whether the budget allowed "
                               "them (retried, budget_exhausted).", ["service", "outcome"], registry=registry)
        self.rate_limited = Counter("orderhex_gateway_rate_limited", "Requests refused with 429, by client.",
                                    ["client"], registry=registry)
        self.ejections = Counter("orderhex_gateway_ejections", "Instances taken out of rotation after failures in a "
                                 "row (passive ejection).", ["service", "instance"], registry=registry)
        self.upstream_health = Gauge("orderhex_gateway_upstream_health", "Each instance's health as the active "
                                     "checker sees it: 1 up, 0 down, -1 not probed yet.",
                                     ["service", "instance"], registry=registry)
        self.upstream_ejected = Gauge("orderhex_gateway_upstream_ejected", "1 while an instance is ejected.",
                                      ["service", "instance"], registry=registry)
        self.breaker_state = Gauge("orderhex_gateway_breaker_state", "1 for each upstream breaker's current state.",
                                   ["breaker", "state"], registry=registry)
        self.partition_hold = Gauge("orderhex_gateway_partition_hold", "1 while the partition guard keeps the last "
                                    "known instances instead of the registry's list.", registry=registry)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
