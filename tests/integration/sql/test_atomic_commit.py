"""An error after the order rows are written and before COMMIT leaves nothing behind."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from adapters.outbound.sql import unit_of_work
from adapters.outbound.sql.schema import events, order_lines, order_summaries, orders, outbox
from core.orders.model import OrderStatus
from tests.contract.orders_fixtures import new_order, place
from tests.integration.sql.conftest import make_app

TABLES = (orders, order_lines, outbox, order_summaries, events)


def _counts(driver: Any) -> dict[str, int]:
    """Row counts as the open write transaction itself sees them."""
    return {t.name: driver.run(str(select(func.count()).select_from(t))).fetchone()[0] for t in TABLES}


@pytest.mark.parametrize("mode", ["state", "events"])
def test_an_error_after_the_order_write_and_before_commit_leaves_no_order_and_no_outbox_row(
    sql_store: dict[str, Any], mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(sql_store, **{"storage.orders": mode})
    storage = app.storage
    seen_inside: list[dict[str, int]] = []

    def fail_before_commit(self: Any) -> None:
        # Runs where the transaction's COMMIT would: every row is written in it by now.
        seen_inside.append(_counts(self.driver))
        raise RuntimeError("injected between the writes and COMMIT")

    try:
        with monkeypatch.context() as patch:
            patch.setattr(unit_of_work._Transaction, "commit", fail_before_commit)
            order = new_order()
            with pytest.raises(RuntimeError, match="injected"), storage.unit_of_work() as uow:
                uow.orders.add(order)
                uow.commit()

        written = seen_inside[0]
        assert written["outbox"] == 1 and written["order_summaries"] == 1
        assert (written["orders"], written["order_lines"]) == ((1, 2) if mode == "state" else (0, 0))
        assert written["events"] == (1 if mode == "events" else 0)
        with storage.unit_of_work() as check:
            assert check.orders.get(order.id) is None
        assert storage.outbox.pending_count() == 0 and storage.outbox.recent(10) == []
        assert storage.read_model.get(order.id) is None and storage.read_model.position() == 0
        assert storage.event_store.read_all() == []

        # Nothing stays locked or half-written: the next order commits normally.
        placed = place(storage)
        with storage.unit_of_work() as check:
            loaded = check.orders.get(placed.id)
        assert loaded is not None and loaded.status is OrderStatus.PENDING
        assert storage.outbox.pending_count() == 1
    finally:
        app.close()
