"""A database written by the orders-only schema (revision 0001) still opens: its orders, keys,
summaries, outbox rows and event streams are found through the generic stores of 0002, new
writes go on from them, and a downgrade gives the 0001 rows back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from adapters.outbound.sql.engine import WRITER, SqlTarget, open_engine, postgres_target, sqlite_target
from adapters.outbound.sql.migrate import MIGRATIONS, upgrade
from adapters.outbound.sql.storage import SqlStorage, open_sql_storage
from adapters.outbound.sql.types import UtcDateTime
from core.kernel.envelope import OutboxRecord
from core.kernel.errors import Unavailable
from core.kernel.messages import DomainEvent
from core.kernel.money import Money
from core.orders.commands import ApproveOrder
from core.orders.model import ORDER, Order, OrderLine, OrderStatus, order_to_state
from core.orders.projection import summarise
from core.orders.queries import SUMMARIES
from tests.integration.sql.conftest import orders_service

T0 = datetime(2026, 3, 1, 9, 30, 0, 123456, tzinfo=UTC)

# The 0001 tables, as the adapter of that revision wrote them (its UtcDateTime included).
old = sa.MetaData()
orders_0001 = sa.Table(
    "orders", old, sa.Column("id", sa.String, primary_key=True), sa.Column("customer_id", sa.String),
    sa.Column("currency", sa.String), sa.Column("status", sa.String), sa.Column("version", sa.Integer),
    sa.Column("created_at", UtcDateTime), sa.Column("updated_at", UtcDateTime), sa.Column("reason", sa.Text),
    sa.Column("idempotency_key", sa.String))
lines_0001 = sa.Table(
    "order_lines", old, sa.Column("order_id", sa.String, primary_key=True),
    sa.Column("line_no", sa.Integer, primary_key=True), sa.Column("sku", sa.String),
    sa.Column("quantity", sa.Integer), sa.Column("unit_price", sa.String))
summaries_0001 = sa.Table(
    "order_summaries", old, sa.Column("order_id", sa.String, primary_key=True), sa.Column("customer_id", sa.String),
    sa.Column("status", sa.String), sa.Column("total", sa.String), sa.Column("currency", sa.String),
    sa.Column("line_count", sa.Integer), sa.Column("created_at", UtcDateTime), sa.Column("updated_at", UtcDateTime),
    sa.Column("version", sa.Integer), sa.Column("reason", sa.Text), sa.Column("lines", sa.Text))
keys_0001 = sa.Table("order_keys", old, sa.Column("idempotency_key", sa.String, primary_key=True),
                     sa.Column("order_id", sa.String))
outbox_0001 = sa.Table(
    "outbox", old, sa.Column("seq", sa.Integer, primary_key=True), sa.Column("event_id", sa.String),
    sa.Column("aggregate_id", sa.String), sa.Column("aggregate_version", sa.Integer), sa.Column("type", sa.String),
    sa.Column("payload", sa.Text), sa.Column("created_at", UtcDateTime), sa.Column("published_at", UtcDateTime))
events_0001 = sa.Table(
    "events", old, sa.Column("position", sa.Integer, primary_key=True), sa.Column("stream_id", sa.String),
    sa.Column("version", sa.Integer), sa.Column("event_id", sa.String), sa.Column("type", sa.String),
    sa.Column("occurred_at", UtcDateTime), sa.Column("payload", sa.Text))
snapshots_0001 = sa.Table("snapshots", old, sa.Column("stream_id", sa.String, primary_key=True),
                          sa.Column("version", sa.Integer, primary_key=True), sa.Column("data", sa.Text))
position_0001 = sa.Table("projection_position", old, sa.Column("id", sa.Integer, primary_key=True),
                         sa.Column("position", sa.BigInteger))


@dataclass
class OldStore:
    """What the 0001 database holds: orders kept as state (a, b, c) and one kept as events (e)."""

    target: SqlTarget
    state_orders: list[Order]
    events_order: Order
    history: dict[str, list[DomainEvent]]


def migrate(target: SqlTarget, revision: str, *, down: bool = False) -> None:
    """Run the migrations to `revision` as the adapter runs them (its connection, its pragmas)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    engine = open_engine(target)
    try:
        with engine.connect() as connection:
            connection.execution_options(**WRITER)
            config.attributes["connection"] = connection
            (command.downgrade if down else command.upgrade)(config, revision)
            if connection.in_transaction():
                connection.commit()
    finally:
        engine.dispose()


def _order(order_id: str, customer: str, key: str | None, created: datetime, skus: int) -> Order:
    lines = [OrderLine(f"SKU-{n}", n, Money(Decimal("9.99") + n, "EUR")) for n in range(1, skus + 1)]
    return Order.place(order_id=order_id, customer_id=customer, currency="EUR", lines=lines, now=created,
                       event_id=f"{order_id}-e1", idempotency_key=key)


def _events(order: Order) -> list[DomainEvent]:
    events = list(order.pending_events)
    order.pending_events.clear()
    order.persisted_version = order.version
    return events


def _bare(payload: str) -> str:
    """A payload as 0001 wrote it: event types were not yet qualified ("OrderPlaced")."""
    data = json.loads(payload)
    data["type"] = data["type"].split(".")[-1]
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


def _old_rows(connection: sa.Connection, order: Order, events: list[DomainEvent], *, as_state: bool) -> None:
    if as_state:
        connection.execute(sa.insert(orders_0001), {
            "id": order.id, "customer_id": order.customer_id, "currency": order.currency,
            "status": order.status.value, "version": order.version, "created_at": order.created_at,
            "updated_at": order.updated_at, "reason": order.reason, "idempotency_key": order.idempotency_key})
        connection.execute(sa.insert(lines_0001), [
            {"order_id": order.id, "line_no": n, "sku": line.sku, "quantity": line.quantity,
             "unit_price": str(line.unit_price.amount)} for n, line in enumerate(order.lines, start=1)])
    else:
        connection.execute(sa.insert(events_0001), [
            {"stream_id": e.aggregate_id, "version": e.aggregate_version, "event_id": e.event_id,
             "type": e.type_name.split(".")[-1], "occurred_at": e.occurred_at,
             "payload": _bare(OutboxRecord.from_event(e).payload)} for e in events])
    summary = summarise(order)
    connection.execute(sa.insert(summaries_0001), {
        "order_id": summary.order_id, "customer_id": summary.customer_id, "status": summary.status.value,
        "total": str(summary.total), "currency": summary.currency, "line_count": summary.line_count,
        "created_at": summary.created_at, "updated_at": summary.updated_at, "version": summary.version,
        "reason": summary.reason, "lines": json.dumps([line.to_json() for line in summary.lines])})
    for event in events:
        record = OutboxRecord.from_event(event)
        connection.execute(sa.insert(outbox_0001), {
            "event_id": record.event_id, "aggregate_id": record.aggregate_id,
            "aggregate_version": record.aggregate_version, "type": record.type.split(".")[-1],
            "payload": _bare(record.payload), "created_at": record.created_at,
            "published_at": T0 + timedelta(minutes=5) if event.aggregate_version == 1 else None})


def write_0001_store(target: SqlTarget) -> OldStore:
    """A database at revision 0001 with rows written the 0001 way."""
    migrate(target, "0001")
    a = _order("o-a", "c-1", "k-a", T0, skus=2)
    a.approve(now=T0 + timedelta(seconds=30), event_id="o-a-e2")
    b = _order("o-b", "c-2", None, T0.replace(microsecond=0) + timedelta(seconds=5), skus=1)
    c = _order("o-c", "c-1", None, T0 + timedelta(seconds=10), skus=3)
    c.reject("no stock", now=T0 + timedelta(seconds=40), event_id="o-c-e2")
    e = _order("o-e", "c-1", "k-e", T0 + timedelta(seconds=20), skus=2)
    e.approve(now=T0 + timedelta(seconds=50), event_id="o-e-e2")
    e.ship(now=T0 + timedelta(seconds=60), event_id="o-e-e3")
    history = {order.id: _events(order) for order in (a, b, c, e)}
    engine = open_engine(target)
    try:
        with engine.begin() as connection:
            for order in (a, b, c):
                _old_rows(connection, order, history[order.id], as_state=True)
            _old_rows(connection, e, history[e.id], as_state=False)
            connection.execute(sa.insert(keys_0001), [
                {"idempotency_key": "k-e", "order_id": e.id},
                # A store that ran in both modes may hold a state order's key here too.
                {"idempotency_key": "k-a", "order_id": a.id}])
            connection.execute(sa.insert(snapshots_0001), {"stream_id": e.id, "version": 2,
                                                           "data": json.dumps(_state_at(history[e.id][:2]))})
            connection.execute(sa.update(position_0001).values(position=7))
    finally:
        engine.dispose()
    return OldStore(target, [a, b, c], e, history)


def _state_at(events: list[DomainEvent]) -> dict[str, Any]:
    return order_to_state(Order.from_events(events))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def old_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OldStore]:
    """SQLite in the data directory (managed: it upgrades itself when opened), or a PostgreSQL URL
    (not managed: refused until `orderhex db upgrade`)."""
    if request.param == "sqlite":
        yield write_0001_store(sqlite_target(tmp_path, ""))
        return
    yield write_0001_store(postgres_target(tmp_path, request.getfixturevalue("empty_postgres_url")))


def open_upgraded(old: OldStore, mode: str) -> SqlStorage:
    target = old.target
    url = "" if target.managed else target.url.render_as_string(hide_password=False)
    adapter = "sqlite" if target.dialect == "sqlite" else "postgres"
    data_dir = target.sqlite_path.parent if target.sqlite_path else Path()
    if not target.managed:
        with pytest.raises(Unavailable, match="run `orderhex db upgrade`"):
            open_sql_storage(adapter, data_dir, url, mode=mode, snapshot_every=50)
        engine = open_engine(target)
        try:
            upgrade(engine, target)
        finally:
            engine.dispose()
    return open_sql_storage(adapter, data_dir, url, mode=mode, snapshot_every=50)


def test_orders_summaries_and_keys_of_a_0001_store_are_found_after_the_upgrade(old_store: OldStore) -> None:
    storage = open_upgraded(old_store, "state")
    try:
        a, b, c = old_store.state_orders
        committer = storage.committer
        for order in (a, b, c):
            loaded = committer.load(ORDER, order.id)
            assert loaded is not None and order_to_state(loaded) == order_to_state(order)
            assert loaded.persisted_version == order.version
            assert storage.read_model.get(SUMMARIES, order.id) == summarise(order)
        by_key = committer.load_by_key(ORDER, "k-a")
        assert by_key is not None and by_key.id == a.id and by_key.status is OrderStatus.APPROVED
        assert storage.aggregate_ids(ORDER) == ["o-a", "o-b", "o-c"]
        assert storage.read_model.position() == 7

        e = old_store.events_order
        newest_first = [s.order_id for s in storage.read_model.list(SUMMARIES).items]
        assert newest_first == ["o-e", "o-c", "o-b", "o-a"]
        page = storage.read_model.list(SUMMARIES, SUMMARIES.where(customer_id="c-1"), limit=2)
        assert [s.order_id for s in page.items] == [e.id, c.id] and page.next_cursor is not None
        rest = storage.read_model.list(SUMMARIES, SUMMARIES.where(customer_id="c-1"), page.next_cursor, limit=2)
        assert [s.order_id for s in rest.items] == [a.id] and rest.next_cursor is None
        rejected = storage.read_model.list(SUMMARIES, SUMMARIES.where(status="REJECTED")).items
        assert [(s.order_id, s.reason) for s in rejected] == [(c.id, "no stock")]

        # Outbox rows keep their bare type names and get the relay's default topic.
        rows = storage.outbox.history(a.id)
        assert [(r.type, r.topic, r.published_at is not None) for r in rows] == [
            ("OrderPlaced", "", True), ("OrderApproved", "", False)]
        assert storage.history(a.id) == old_store.history[a.id]
        assert storage.outbox.pending_count() == 4

        # New writes go on from the migrated rows: version checks, documents, position.
        orders_service(storage).send(ApproveOrder(order_id=b.id))
        approved = committer.load(ORDER, b.id)
        assert approved is not None and approved.version == 2 and approved.status is OrderStatus.APPROVED
        summary = storage.read_model.get(SUMMARIES, b.id)
        assert summary is not None and summary.status is OrderStatus.APPROVED and summary.version == 2
        assert storage.read_model.position() == storage.outbox.recent(1)[0].seq
        assert [r.topic for r in storage.outbox.history(b.id)] == ["", "orderhex.orders.events"]
    finally:
        storage.close()


def test_an_event_sourced_order_of_a_0001_store_is_replayed_after_the_upgrade(old_store: OldStore) -> None:
    storage = open_upgraded(old_store, "events")
    try:
        e = old_store.events_order
        loaded = storage.committer.load(ORDER, e.id)
        assert loaded is not None and order_to_state(loaded) == order_to_state(e)
        by_key = storage.committer.load_by_key(ORDER, "k-e")
        assert by_key is not None and by_key.id == e.id
        assert storage.aggregate_ids(ORDER) == [e.id]
        assert storage.history(e.id) == old_store.history[e.id]
        assert [s.event.aggregate_id for s in storage.event_store.read_all()] == [e.id] * 3
        assert storage.read_model.get(SUMMARIES, e.id) == summarise(e)
    finally:
        storage.close()


def test_the_upgrade_stores_the_orders_codec_state_and_view_documents_exactly(old_store: OldStore) -> None:
    storage = open_upgraded(old_store, "state")
    storage.close()
    engine = open_engine(old_store.target)
    try:
        with engine.connect() as connection:
            states = {row.id: row.state for row in connection.execute(
                sa.text("SELECT id, state FROM aggregates WHERE type = 'orders.Order'"))}
            documents = {row.key: row for row in connection.execute(sa.text(
                "SELECT key, sort, tag1, tag2, tag3, data FROM documents WHERE view = 'orders.summaries'"))}
            keys = {tuple(row) for row in connection.execute(
                sa.text("SELECT type, idempotency_key, aggregate_id FROM aggregate_keys"))}
            tables = set(sa.inspect(connection).get_table_names())
    finally:
        engine.dispose()
    assert {oid: json.loads(state) for oid, state in states.items()} == {
        order.id: order_to_state(order) for order in old_store.state_orders}
    every = [*old_store.state_orders, old_store.events_order]
    assert {key: (row.sort, row.tag1, row.tag2, row.tag3, json.loads(row.data)) for key, row in documents.items()} == {
        order.id: (SUMMARIES.sort(summarise(order)), order.customer_id, order.status.value, None,
                   summarise(order).to_json()) for order in every}
    assert keys == {("orders.Order", "k-a", "o-a"), ("orders.Order", "k-e", "o-e")}
    assert not tables & {"orders", "order_lines", "order_summaries", "order_keys"}


def test_a_downgrade_gives_the_0001_rows_back(old_store: OldStore) -> None:
    engine = open_engine(old_store.target)
    try:
        before = _dump_0001(engine)
        upgrade(engine, old_store.target)
        migrate(old_store.target, "0001", down=True)
        assert _dump_0001(engine) == before
    finally:
        engine.dispose()


def _dump_0001(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of the 0001 order tables, in key order (outbox without its seq-only columns)."""
    with engine.connect() as connection:
        return {
            "orders": [tuple(r) for r in connection.execute(sa.select(orders_0001).order_by(orders_0001.c.id))],
            "order_lines": [tuple(r) for r in connection.execute(
                sa.select(lines_0001).order_by(lines_0001.c.order_id, lines_0001.c.line_no))],
            "order_summaries": [tuple(r) for r in connection.execute(
                sa.select(summaries_0001).order_by(summaries_0001.c.order_id))],
            "order_keys": [tuple(r) for r in connection.execute(
                sa.select(keys_0001).order_by(keys_0001.c.idempotency_key))],
            "outbox": [tuple(r) for r in connection.execute(sa.select(outbox_0001).order_by(outbox_0001.c.seq))],
            "events": [tuple(r) for r in connection.execute(sa.select(events_0001).order_by(events_0001.c.position))],
        }


def test_the_head_constant_is_alembics_head() -> None:
    from adapters.outbound.sql import migrate

    assert migrate._script().get_current_head() == migrate.HEAD
