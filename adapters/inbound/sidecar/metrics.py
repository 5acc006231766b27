"""The sidecar's Prometheus metrics, on a registry of its own (with the process's CPU and memory):
requests by method and status, time to each answer, refusals by reason, requests the service
did not answer by reason, event streams open, and, read at each scrape, whether the service is up and the instance
registered."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.process_collector import ProcessCollector

METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class SidecarMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        self.requests = Counter("orderhex_sidecar_requests", "Requests through the sidecar, by method and status.",
                                ["method", "status"], registry=self.registry)
        self.seconds = Histogram("orderhex_sidecar_request_seconds", "Time to the answer's head (with its body "
                                 "when that is read whole), through the sidecar.", registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))
        self.refused = Counter("orderhex_sidecar_auth_refused", "Requests refused for their credentials, by reason.",
                               ["reason"], registry=self.registry)
        self.upstream_errors = Counter("orderhex_sidecar_upstream_errors", "Requests the service did not answer, "
                                       "by reason.", ["reason"], registry=self.registry)
        self.streams = Gauge("orderhex_sidecar_open_streams", "Event streams being relayed now.",
                             registry=self.registry)
        self.up = Gauge("orderhex_sidecar_upstream_up", "1 while the service's health checks pass.",
                        registry=self.registry)
        self.registered = Gauge("orderhex_sidecar_registered", "1 while the instance is in the registry.",
                                registry=self.registry)

    def total(self) -> float:
        return sum(s.value for m in self.requests.collect() for s in m.samples if s.name.endswith("_total"))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
