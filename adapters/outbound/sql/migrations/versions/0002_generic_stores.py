"""Generic stores: any context's aggregates, keys and views instead of the orders' own tables.

Revision ID: 0002
Revises: 0001

- creates `aggregates` (state mode), `aggregate_keys` (both modes) and `documents` (every view);
- copies each `orders` row with its `order_lines` into an `aggregates` row of type
  "orders.Order" whose state is the orders codec's JSON (schema 1), the order idempotency keys
  (`orders.idempotency_key` from state mode, `order_keys` from events mode) into
  `aggregate_keys`, and `order_summaries` into `documents` of the view "orders.summaries";
- adds `outbox.topic` ("" on old rows: the relay's default topic) and `events.aggregate_type`
  ("orders.Order" on old rows: every stream so far was an order's);
- drops the orders' own tables.

Snapshots are kept as they are: they already hold the orders codec's state. Outbox and event
types stay as written ("OrderPlaced"): events are read by bare names too.

The JSON shapes are written out here on purpose: a migration is frozen at the schema it moves
to, and must not import core (whose codecs will change after it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ORDER_TYPE = "orders.Order"
SUMMARIES_VIEW = "orders.summaries"
ORDER_STATE_SCHEMA = 1
TAGS = 3
# Rows copied per statement: bounded memory on a large store, few round trips on a small one.
BATCH = 500

TIMESTAMP = sa.DateTime(timezone=True)
ORDERED_TEXT = sa.String().with_variant(sa.String(collation="C"), "postgresql")

# The 0001 tables as this migration reads them (lightweight: no metadata of their own).
old_orders = sa.table(
    "orders", sa.column("id", sa.String), sa.column("customer_id", sa.String), sa.column("currency", sa.String),
    sa.column("status", sa.String), sa.column("version", sa.Integer), sa.column("created_at", TIMESTAMP),
    sa.column("updated_at", TIMESTAMP), sa.column("reason", sa.Text), sa.column("idempotency_key", sa.String))
old_lines = sa.table(
    "order_lines", sa.column("order_id", sa.String), sa.column("line_no", sa.Integer), sa.column("sku", sa.String),
    sa.column("quantity", sa.Integer), sa.column("unit_price", sa.String))
old_summaries = sa.table(
    "order_summaries", sa.column("order_id", sa.String), sa.column("customer_id", sa.String),
    sa.column("status", sa.String), sa.column("total", sa.String), sa.column("currency", sa.String),
    sa.column("line_count", sa.Integer), sa.column("created_at", TIMESTAMP), sa.column("updated_at", TIMESTAMP),
    sa.column("version", sa.Integer), sa.column("reason", sa.Text), sa.column("lines", sa.Text))
old_keys = sa.table("order_keys", sa.column("idempotency_key", sa.String), sa.column("order_id", sa.String))
events = sa.table("events", sa.column("aggregate_type", sa.String))


def upgrade() -> None:
    aggregates = op.create_table(
        "aggregates",
        sa.Column("type", sa.String, primary_key=True),
        sa.Column("id", ORDERED_TEXT, primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sqlite_with_rowid=False,
    )
    keys = op.create_table(
        "aggregate_keys",
        sa.Column("type", sa.String, primary_key=True),
        sa.Column("idempotency_key", sa.String, primary_key=True),
        sa.Column("aggregate_id", sa.String, nullable=False),
        sqlite_with_rowid=False,
    )
    documents = op.create_table(
        "documents",
        sa.Column("view", sa.String, primary_key=True),
        sa.Column("key", ORDERED_TEXT, primary_key=True),
        sa.Column("sort", ORDERED_TEXT, nullable=False),
        *(sa.Column(f"tag{n}", sa.String) for n in range(1, TAGS + 1)),
        sa.Column("data", sa.Text, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_documents_sort", "documents", ["view", "sort", "key"])
    for n in range(1, TAGS + 1):
        tagged = sa.text(f"tag{n} IS NOT NULL")
        op.create_index(f"ix_documents_tag{n}", "documents", ["view", f"tag{n}", "sort", "key"],
                        sqlite_where=tagged, postgresql_where=tagged)
    op.add_column("outbox", sa.Column("topic", sa.String, nullable=False, server_default=""))
    op.add_column("events", sa.Column("aggregate_type", sa.String, nullable=False, server_default=""))

    bind = op.get_bind()
    for chunk in _chunks(bind, sa.select(old_orders), old_orders.c.id):
        lines = _lines_of(bind, [row.id for row in chunk])
        bind.execute(sa.insert(aggregates), [
            {"type": ORDER_TYPE, "id": row.id, "version": row.version,
             "state": _dumps(_order_state(row, lines.get(row.id, [])))} for row in chunk])
    # State mode kept the key on the order row; events mode in order_keys. A store that ran in
    # both modes may hold a key in each: the order row's wins, as it did for state mode.
    bind.execute(sa.insert(keys).from_select(
        ["type", "idempotency_key", "aggregate_id"],
        sa.select(sa.literal(ORDER_TYPE), old_orders.c.idempotency_key, old_orders.c.id)
        .where(old_orders.c.idempotency_key.is_not(None))))
    taken = sa.select(keys.c.idempotency_key).where(keys.c.type == ORDER_TYPE,
                                                    keys.c.idempotency_key == old_keys.c.idempotency_key)
    bind.execute(sa.insert(keys).from_select(
        ["type", "idempotency_key", "aggregate_id"],
        sa.select(sa.literal(ORDER_TYPE), old_keys.c.idempotency_key, old_keys.c.order_id)
        .where(~sa.exists(taken))))
    for chunk in _chunks(bind, sa.select(old_summaries), old_summaries.c.order_id):
        bind.execute(sa.insert(documents), [_summary_document(row) for row in chunk])
    bind.execute(sa.update(events).values(aggregate_type=ORDER_TYPE))

    for table in ("order_summaries", "order_keys", "order_lines", "orders"):
        op.drop_table(table)


def downgrade() -> None:
    """Back to 0001, for orders only: other contexts' aggregates and views have no 0001 tables
    and are dropped with the generic ones."""
    orders = op.create_table(
        "orders",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("customer_id", sa.String, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("idempotency_key", sa.String, unique=True),
    )
    lines = op.create_table(
        "order_lines",
        sa.Column("order_id", sa.String, sa.ForeignKey("orders.id"), primary_key=True),
        sa.Column("line_no", sa.Integer, primary_key=True),
        sa.Column("sku", sa.String, nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("unit_price", sa.String, nullable=False),
    )
    summaries = op.create_table(
        "order_summaries",
        sa.Column("order_id", sa.String, primary_key=True),
        sa.Column("customer_id", sa.String, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("total", sa.String, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("line_count", sa.Integer, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("lines", sa.Text, nullable=False),
    )
    op.create_index("ix_summaries_newest", "order_summaries", ["created_at", "order_id"])
    op.create_index("ix_summaries_customer", "order_summaries", ["customer_id", "created_at", "order_id"])
    op.create_index("ix_summaries_status", "order_summaries", ["status", "created_at", "order_id"])
    keys = op.create_table(
        "order_keys",
        sa.Column("idempotency_key", sa.String, primary_key=True),
        sa.Column("order_id", sa.String, nullable=False),
    )

    bind = op.get_bind()
    aggregates = sa.table("aggregates", sa.column("type", sa.String), sa.column("id", sa.String),
                          sa.column("state", sa.Text))
    for chunk in _chunks(bind, sa.select(aggregates.c.id, aggregates.c.state).where(aggregates.c.type == ORDER_TYPE),
                         aggregates.c.id):
        states = [json.loads(row.state) for row in chunk]
        bind.execute(sa.insert(orders), [
            {"id": s["order_id"], "customer_id": s["customer_id"], "currency": s["currency"], "status": s["status"],
             "version": s["version"], "created_at": _utc(datetime.fromisoformat(s["created_at"]), bind),
             "updated_at": _utc(datetime.fromisoformat(s["updated_at"]), bind), "reason": s["reason"],
             "idempotency_key": s["idempotency_key"]} for s in states])
        bind.execute(sa.insert(lines), [
            {"order_id": s["order_id"], "line_no": number, "sku": line["sku"], "quantity": line["quantity"],
             "unit_price": line["unit_price"]}
            for s in states for number, line in enumerate(s["lines"], start=1)])
    generic_keys = sa.table("aggregate_keys", sa.column("type", sa.String), sa.column("idempotency_key", sa.String),
                            sa.column("aggregate_id", sa.String))
    bind.execute(sa.insert(keys).from_select(
        ["idempotency_key", "order_id"],
        sa.select(generic_keys.c.idempotency_key, generic_keys.c.aggregate_id)
        .where(generic_keys.c.type == ORDER_TYPE)))
    documents = sa.table("documents", sa.column("view", sa.String), sa.column("key", sa.String),
                         sa.column("data", sa.Text))
    for chunk in _chunks(bind, sa.select(documents.c.key, documents.c.data).where(documents.c.view == SUMMARIES_VIEW),
                         documents.c.key):
        bind.execute(sa.insert(summaries), [_summary_row(json.loads(row.data), bind) for row in chunk])

    for table in ("documents", "aggregate_keys", "aggregates"):
        op.drop_table(table)
    # ALTER TABLE ... DROP COLUMN on both dialects (SQLite 3.35+), not a batch copy of the table,
    # which would lose SQLite's AUTOINCREMENT and the partial index.
    op.drop_column("events", "aggregate_type")
    op.drop_column("outbox", "topic")


def _chunks(bind: sa.Connection, query: sa.Select[Any], key: sa.ColumnElement[Any]) -> Iterator[Sequence[sa.Row[Any]]]:
    """The query's rows, BATCH at a time, keyset-paged on the unique column `key` (which the query
    selects): both dialects page alike, and no cursor stays open while a batch is written."""
    after: Any = None
    while True:
        page = query if after is None else query.where(key > after)
        rows = bind.execute(page.order_by(key).limit(BATCH)).all()
        if not rows:
            return
        yield rows
        after = rows[-1]._mapping[key]


def _lines_of(bind: sa.Connection, order_ids: list[str]) -> dict[str, list[sa.Row[Any]]]:
    lines: dict[str, list[sa.Row[Any]]] = {}
    query = (sa.select(old_lines).where(old_lines.c.order_id.in_(order_ids))
             .order_by(old_lines.c.order_id, old_lines.c.line_no))
    for line in bind.execute(query):
        lines.setdefault(line.order_id, []).append(line)
    return lines


def _as_utc(value: datetime) -> datetime:
    """An aware UTC datetime as the adapter's UtcDateTime read it: SQLite kept naive UTC text."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc(value: datetime, bind: sa.Connection) -> datetime:
    """A datetime to write as UtcDateTime would: naive UTC on SQLite, aware UTC elsewhere."""
    utc = value.astimezone(UTC)
    return utc.replace(tzinfo=None) if bind.dialect.name == "sqlite" else utc


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"))


def _order_state(row: sa.Row[Any], lines: list[sa.Row[Any]]) -> dict[str, Any]:
    """The orders codec's state, schema 1 (core.orders.model.order_to_state at this revision)."""
    return {
        "schema": ORDER_STATE_SCHEMA, "order_id": row.id, "customer_id": row.customer_id,
        "currency": row.currency, "status": row.status, "version": row.version,
        "created_at": _as_utc(row.created_at).isoformat(), "updated_at": _as_utc(row.updated_at).isoformat(),
        "reason": row.reason, "idempotency_key": row.idempotency_key,
        # unit_price was already the Decimal's str(): the text the codec writes.
        "lines": [{"sku": line.sku, "quantity": line.quantity, "unit_price": line.unit_price} for line in lines],
    }


def _summary_document(row: sa.Row[Any]) -> dict[str, Any]:
    """A documents row of the "orders.summaries" view: key order_id, sort the creation time as
    core.kernel.views.sort_time writes it, tags (customer_id, status), data in the shape of
    OrderSummary.to_json at this revision."""
    created_at, updated_at = _as_utc(row.created_at), _as_utc(row.updated_at)
    data = {
        "order_id": row.order_id, "customer_id": row.customer_id, "status": row.status, "total": row.total,
        "currency": row.currency, "line_count": row.line_count, "lines": json.loads(row.lines),
        "reason": row.reason, "version": row.version, "created_at": created_at.isoformat(),
        "updated_at": updated_at.isoformat(),
    }
    return {"view": SUMMARIES_VIEW, "key": row.order_id, "sort": created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "tag1": row.customer_id, "tag2": row.status, "tag3": None, "data": _dumps(data)}


def _summary_row(data: dict[str, Any], bind: sa.Connection) -> dict[str, Any]:
    return {
        "order_id": data["order_id"], "customer_id": data["customer_id"], "status": data["status"],
        "total": data["total"], "currency": data["currency"], "line_count": data["line_count"],
        "created_at": _utc(datetime.fromisoformat(data["created_at"]), bind),
        "updated_at": _utc(datetime.fromisoformat(data["updated_at"]), bind), "version": data["version"],
        "reason": data.get("reason"), "lines": json.dumps(data["lines"]),
    }
