"""The Overviews port answered in this process, by the order overview aggregator itself."""

from __future__ import annotations

from collections.abc import Iterable

from core.orders.overview import OrderOverviews, Overview
from ports.overview import OrderOverview, OverviewPart


def view_of(overview: Overview) -> OrderOverview:
    parts = tuple(OverviewPart(name=name, status=part.status, latency_ms=part.latency_ms, source=part.source,
                               age_seconds=part.age_seconds, error=part.error)
                  for name, part in overview.parts.items())
    return OrderOverview(order_id=overview.order_id, complete=overview.complete, latency_ms=overview.latency_ms,
                         parts=parts)


class LocalOverviews:
    """NotFound and PartsMissing (an Unavailable naming the missing parts) pass through as they are."""

    def __init__(self, overviews: OrderOverviews) -> None:
        self._overviews = overviews

    def overview(self, order_id: str, require: Iterable[str] = ()) -> OrderOverview:
        return view_of(self._overviews.overview(order_id, require))
