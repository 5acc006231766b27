"""Both SQL planners seek an index for every list the read model runs: the cursor is a row value
in the index condition (not a filter over the rows before it), and customer + status use the
two-tag index of migration 0005."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.outbound.sql.prepared import Prepared
from adapters.outbound.sql.statements import LIST_DOCUMENTS
from core.orders.queries import SUMMARIES
from tests.contract.orders_fixtures import approve, place
from tests.integration.sql.conftest import SqlStore

PARAMS = {"view": SUMMARIES.name, "tag1": "c-1", "tag2": "PENDING", "after_sort": "2026-01-01T00:00:09.000000Z",
          "after_key": "o-999999", "limit": 51}


def _plan(store: SqlStore, tags: tuple[int, ...], after: bool) -> str:
    storage = store.open()
    for n in range(6):
        order = place(storage, customer=f"c-{n % 2}", when=n)
        if n % 3 == 0:
            approve(storage, order.id)
    engine: sa.Engine = storage._db.engine  # the plan of the statement on the store's own connection
    try:
        prepared = Prepared(LIST_DOCUMENTS[(tags, after)], engine.dialect, ())
        params: Any = prepared.driver_params(PARAMS)
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {prepared.sql}", params).all()
                return "; ".join(str(row[3]) for row in rows)
            # A handful of rows would be read whole; ask which index the planner would seek.
            connection.exec_driver_sql("SET enable_seqscan = off")
            connection.exec_driver_sql("SET enable_sort = off")
            rows = connection.exec_driver_sql(f"EXPLAIN (COSTS OFF) {prepared.sql}", params).all()
            return " | ".join(str(row[0]).strip() for row in rows)
    finally:
        storage.close()


def test_a_page_after_a_cursor_seeks_the_sort_index_to_the_cursor(sql_store: SqlStore) -> None:
    plan = _plan(sql_store, (), True)
    assert "ix_documents_sort" in plan
    if sql_store.adapter == "sqlite":
        assert "(sort,key)<(?,?)" in plan, plan
    else:
        assert "Index Cond:" in plan and "ROW(" in plan.split("Index Cond:")[1] and "Filter:" not in plan, plan


def test_customer_and_status_seek_the_two_tag_index_with_the_cursor(sql_store: SqlStore) -> None:
    plan = _plan(sql_store, (1, 2), True)
    assert "ix_documents_tag1_tag2" in plan, plan
    if sql_store.adapter == "sqlite":
        assert "tag1=? AND tag2=? AND (sort,key)<(?,?)" in plan, plan
    else:
        assert "Filter:" not in plan and "ROW(" in plan.split("Index Cond:")[1], plan


@pytest.mark.parametrize("tags", [(1,), (2,)])
def test_one_filter_seeks_its_own_tag_index(sql_store: SqlStore, tags: tuple[int, ...]) -> None:
    plan = _plan(sql_store, tags, True)
    assert re.search(rf"ix_documents_tag{tags[0]}\b(?!_)", plan), plan
    if sql_store.adapter == "sqlite":
        assert f"tag{tags[0]}=? AND (sort,key)<(?,?)" in plan, plan
    else:
        assert "Filter:" not in plan and "ROW(" in plan.split("Index Cond:")[1], plan
