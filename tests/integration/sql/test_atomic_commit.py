"""An error after every row of a unit of work is written and before COMMIT leaves nothing behind."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from adapters.outbound.sql.prepared import Driver
from adapters.outbound.sql.schema import aggregate_keys, aggregates, documents, events, inbox, outbox, snapshots
from core.orders.model import ORDER, OrderStatus
from core.orders.queries import SUMMARIES
from tests.contract.orders_fixtures import new_order, orders, place, unit_of_work
from tests.integration.sql.conftest import SqlStore

TABLES = (aggregates, aggregate_keys, outbox, documents, events, snapshots, inbox)


def _counts(driver: Driver) -> dict[str, int]:
    """Row counts as the open write transaction itself sees them."""
    return {t.name: driver.run(str(select(func.count()).select_from(t))).fetchone()[0] for t in TABLES}


@pytest.mark.parametrize("mode", ["state", "events"])
def test_an_error_after_the_writes_and_before_commit_leaves_no_trace(
    sql_store: SqlStore, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # snapshot_every=1: the event-sourced write includes a snapshot row too.
    storage = sql_store.open(mode, snapshot_every=1)
    seen_inside: list[dict[str, int]] = []
    real_end = Driver.end

    def fail_instead_of_commit(self: Driver, commit: bool) -> None:
        # Runs where the write transaction's COMMIT would: every row is written in it by now.
        if not commit:
            real_end(self, commit)
            return
        seen_inside.append(_counts(self))
        real_end(self, commit=False)
        raise RuntimeError("injected between the writes and COMMIT")

    try:
        order = new_order(key="k-1")
        with monkeypatch.context() as patch:
            patch.setattr(Driver, "end", fail_instead_of_commit)
            with pytest.raises(RuntimeError, match="injected"), unit_of_work(storage) as uow:
                uow.message_id = "m-1"
                orders(uow).add(order)
                uow.commit()

        written = seen_inside[0]
        assert written["outbox"] == 1 and written["documents"] == 1
        assert written["aggregate_keys"] == 1 and written["inbox"] == 1
        assert written["aggregates"] == (1 if mode == "state" else 0)
        assert (written["events"], written["snapshots"]) == ((1, 1) if mode == "events" else (0, 0))
        committer = storage.committer
        assert committer.load(ORDER, order.id) is None and committer.load_by_key(ORDER, "k-1") is None
        assert not committer.seen("m-1")
        assert storage.outbox.pending_count() == 0 and storage.outbox.recent(10) == []
        assert storage.read_model.get(SUMMARIES, order.id) is None and storage.read_model.position() == 0
        assert storage.event_store.read_all() == [] and storage.aggregate_ids(ORDER) == []

        # Nothing stays locked or half-written: the next order commits normally.
        placed = place(storage, key="k-1")
        loaded = committer.load(ORDER, placed.id)
        assert loaded is not None and loaded.status is OrderStatus.PENDING
        # (PostgreSQL sequences do not roll back: the seq may have moved on, the position with it.)
        assert storage.outbox.pending_count() == 1
        assert storage.read_model.position() == storage.outbox.recent(1)[0].seq
    finally:
        storage.close()

