"""What the dashboard's attach mode is handed: both ports over one connection to a served orderhex."""

from __future__ import annotations

from adapters.outbound.http.api import ServedApi
from adapters.outbound.http.control import HttpControl
from adapters.outbound.http.ordering import HttpOrdering
from adapters.outbound.http.resilience import HttpResilience


class RemoteService:
    """`ordering`, `control` and `resilience` of a running `orderhex serve`, reached at `base_url`."""

    def __init__(self, base_url: str, token: str, api_key: str = "") -> None:
        self.api = ServedApi(base_url, token, api_key)
        self.ordering = HttpOrdering(self.api)
        self.control = HttpControl(self.api)
        self.resilience = HttpResilience(self.api)

    def close(self) -> None:
        self.control.feed.stop()
        self.api.close()
