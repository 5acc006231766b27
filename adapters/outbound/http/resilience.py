"""The Resilience port of a running `orderhex serve`, over its admin API (the CLI's and dashboard's
attach mode)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from adapters.outbound.http.api import ServedApi


class HttpResilience:
    def __init__(self, api: ServedApi) -> None:
        self._api = api

    def breakers(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._api.request("GET", "/admin/breakers").json()
        return result

    def _act(self, name: str, action: str, reason: str) -> dict[str, Any]:
        result: dict[str, Any] = self._api.request("POST", f"/admin/breakers/{quote(name, safe='')}/{action}",
                                                   json={"reason": reason}).json()
        return result

    def force_open(self, name: str, reason: str) -> dict[str, Any]:
        return self._act(name, "force-open", reason)

    def force_closed(self, name: str, reason: str) -> dict[str, Any]:
        return self._act(name, "force-closed", reason)

    def metrics_only(self, name: str, reason: str) -> dict[str, Any]:
        return self._act(name, "metrics-only", reason)

    def reset(self, name: str, reason: str) -> dict[str, Any]:
        return self._act(name, "reset", reason)

    def reconfigure(self, name: str, config: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._api.request("PUT", f"/admin/breakers/{quote(name, safe='')}/config",
                                                   json=dict(config)).json()
        return result

    def faults(self) -> dict[str, dict[str, Any]]:
        result: dict[str, dict[str, Any]] = self._api.request("GET", "/admin/faults").json()
        return result

    def set_fault(self, service: str, settings: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._api.request("PUT", f"/admin/faults/{quote(service, safe='')}",
                                                   json=dict(settings)).json()
        return result

    def clear_fault(self, service: str) -> None:
        self._api.request("DELETE", f"/admin/faults/{quote(service, safe='')}")
