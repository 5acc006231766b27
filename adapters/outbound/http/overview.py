"""The Overviews port over a served orderhex's GET /orders/{id}/overview."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote

from adapters.outbound.http.api import ServedApi
from ports.overview import OrderOverview


class HttpOverviews:
    """Its 404 comes back as NotFound and its 503 (a required part missing) as Unavailable, by ServedApi."""

    def __init__(self, api: ServedApi) -> None:
        self._api = api

    def overview(self, order_id: str, require: Iterable[str] = ()) -> OrderOverview:
        required = ",".join(sorted(require))
        response = self._api.request("GET", f"/orders/{quote(order_id, safe='')}/overview",
                                     params={"require": required} if required else None)
        return OrderOverview.from_json(response.json())
