"""The other end of the sidecar's admin routes, for whoever shows or steers instances (the
dashboard, through core/runtime/instances.py): an instance's status from its sidecar's /health,
drain and stop; and the gateway's per-instance request counts from its /metrics."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import httpx
from prometheus_client.parser import text_string_to_metric_families

from core.kernel.errors import Unavailable
from ports.instances import AgentStatus, Change
from ports.registry import InstanceRecord

GATEWAY_ATTEMPTS = "orderhex_gateway_upstream_attempts"


class HttpSidecarAgent:
    def __init__(self, admin_token: str, timeout: float = 1.0) -> None:
        self._token = admin_token
        self._http = httpx.Client(timeout=timeout)

    def status(self, record: InstanceRecord) -> AgentStatus:
        body = self._call("GET", record, "/health").json()
        return AgentStatus(str(body.get("status", "unknown")), (body.get("lease") or {}).get("remaining_seconds"),
                           tuple(Change(datetime.fromisoformat(t["at"]), t["previous"], t["state"], t["reason"])
                                 for t in body.get("transitions", ())))

    def drain(self, record: InstanceRecord) -> None:
        self._call("POST", record, "/sidecar/drain")

    def stop(self, record: InstanceRecord) -> None:
        self._call("POST", record, "/sidecar/stop")

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, record: InstanceRecord, path: str) -> httpx.Response:
        try:
            response = self._http.request(method, record.address.rstrip("/") + path,
                                          headers={"Authorization": f"Bearer {self._token}"})
        except httpx.TransportError as exc:
            raise Unavailable(f"the sidecar of {record.key} at {record.address}", str(exc) or type(exc).__name__,
                              "it may have stopped; its lease runs out within the registry's TTL") from exc
        if response.status_code in (401, 403):
            raise Unavailable(f"the sidecar of {record.key}", f"it refused the admin token ({response.status_code})",
                              "give the dashboard the api.admin_token the sidecars run with")
        return response


def gateway_traffic(metrics_url: str, timeout: float = 1.0) -> Mapping[str, float] | None:
    """Requests the gateway sent to each instance so far (`service/instance_id` -> count), or None
    when no gateway answers at `metrics_url`."""
    try:
        text = httpx.get(metrics_url, timeout=timeout).text
    except httpx.TransportError:
        return None
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != GATEWAY_ATTEMPTS:
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                key = f"{sample.labels.get('service', '')}/{sample.labels.get('instance', '')}"
                counts[key] = counts.get(key, 0.0) + sample.value
    return counts
