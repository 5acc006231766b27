"""ListOrders as the store grows: the first page, a deep page, and pages filtered by customer and
status, at 10k / 100k / 1M orders on SQLite, 100k in the file store and 100k on PostgreSQL.

Each figure is the p50 of `--calls` calls of the read model's `list` (the port ListOrders runs:
statement, driver, JSON, OrderSummary), the median over `--rounds` rounds. Beside it, the same
page's SQL alone on the raw driver, and the same SQL spelled as before this change (the cursor
as `sort < :s OR (sort = :s AND key < :k)`; customer + status through tag1's index alone, with
`INDEXED BY` on SQLite), so the ratio old / new comes from one run on one machine.

How the stores are filled (the fill is not what is measured):
- SQL: the schema comes from the adapter's own migrations; the summary rows are bulk-inserted
  straight into `documents` by this script (executemany on sqlite3, COPY on PostgreSQL), each a
  real OrderSummary made into a row by the adapter's `document_values`. Orders are two to a
  timestamp (cursors must break ties on the key); 1,000 customers (1,000 orders each at 1M);
  statuses 60% shipped, 20% approved, 10% rejected, 10% pending, in every customer's orders.
  SQLite gets no ANALYZE (orderhex never runs it);
  PostgreSQL is ANALYZEd after the load, as its autovacuum would.
- File store: through its own write path, one unit of work per order (aggregate, outbox row,
  summary; `--file-batch` orders per unit of work, one journal line and fdatasync each), with
  the default compaction setting; the fill rate of every tenth is printed, to show it stays
  steady.

Deep pages start at half the set (500k at 1M), with the cursor a walk would hold there.

    .venv/bin/python bench/growth.py [--sizes 10000,100000,1000000] [--file-orders 100000]
                                     [--postgres-orders 100000] [--calls 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from _postgres import BenchPostgres

from adapters.outbound.file import journal
from adapters.outbound.file.storage import FileStorage
from adapters.outbound.memory.feed import RingBufferFeed
from adapters.outbound.sql.engine import postgres_target, sqlite_target
from adapters.outbound.sql.rows import document_values
from adapters.outbound.sql.statements import LIST_DOCUMENTS
from adapters.outbound.sql.storage import SqlStorage
from core.kernel.money import Money
from core.kernel.views import encode_cursor
from core.orders.events import PlacedLine
from core.orders.model import ORDER, Order, OrderLine, OrderStatus
from core.orders.queries import SUMMARIES, OrderSummary
from core.orders.service import CONTEXT
from core.runtime.unit_of_work import UnitOfWork
from ports.storage import ReadModel

RESULTS = Path(__file__).parent / "results" / "growth.json"
BASE = datetime(2026, 1, 1, tzinfo=UTC)
CUSTOMERS = 1000
LINES = (PlacedLine("SKU-1", 2, Decimal("9.99")), PlacedLine("SKU-2", 1, Decimal("4.50")))
# Of every ten orders: six shipped, two approved, one rejected, one pending.
STATUSES = [OrderStatus.SHIPPED] * 6 + [OrderStatus.APPROVED] * 2 + [OrderStatus.REJECTED, OrderStatus.PENDING]
CUSTOMER, STATUS = "c-7", OrderStatus.PENDING
PAGE = 50
COLUMNS = ("view", "key", "sort", "tag1", "tag2", "tag3", "data")


def summary(number: int) -> OrderSummary:
    created = BASE + timedelta(milliseconds=number // 2)
    return OrderSummary(order_id=f"o-{number:09d}", customer_id=customer(number),
                        status=STATUSES[number % 10], total=Decimal("24.48"), currency="EUR", line_count=2,
                        created_at=created, updated_at=created, version=2, lines=LINES)


def customer(number: int) -> str:
    """Ten orders in a row per customer, so every customer has orders of every status."""
    return f"c-{(number // 10) % CUSTOMERS}"


def rows(count: int) -> Iterator[tuple[Any, ...]]:
    for number in range(count):
        values = document_values(SUMMARIES, summary(number))
        yield tuple(values[column] for column in COLUMNS)


# -- measuring ----------------------------------------------------------------------------------

def p50_ms(call: Callable[[], object], calls: int, rounds: int) -> float:
    """The median over rounds of each round's p50, in milliseconds."""
    medians = []
    for _ in range(rounds):
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
        medians.append(statistics.median(times))
    return round(statistics.median(medians) * 1000, 4)


def few(calls: int) -> int:
    """Calls of a baseline that reads a large part of the store each time."""
    return max(calls // 20, 5)


def where(filtered: bool) -> tuple[str | None, ...]:
    return SUMMARIES.where(customer_id=CUSTOMER, status=STATUS.value) if filtered else SUMMARIES.where()


def check_page(read_model: ReadModel | Any, filtered: bool, cursor: str | None, expected_first: str) -> None:
    """The page starts where the database says it does (the cursor is the one a walk holds)."""
    page = read_model.list(SUMMARIES, where(filtered), cursor, PAGE)
    assert page.items and page.items[0].order_id == expected_first, (filtered, cursor)


def port_figures(read_models: dict[str, ReadModel | Any], cursors: dict[str, tuple[str | None, str]], calls: int,
                 rounds: int) -> dict[str, dict[str, float]]:
    """p50 of `list` for each read model and page (first and deep, all orders and customer +
    status): the median over rounds, the read models taking turns within each round so a burst
    of load from elsewhere falls on all of them alike."""
    samples: dict[str, dict[str, list[float]]] = {name: {page: [] for page in cursors} for name in read_models}
    for read_model in read_models.values():
        for page, (cursor, first) in cursors.items():
            check_page(read_model, page.startswith("filtered"), cursor, first)
    for _ in range(rounds):
        for page, (cursor, _) in cursors.items():
            shown = where(page.startswith("filtered"))
            for name, read_model in read_models.items():
                samples[name][page].append(p50_ms(lambda m=read_model, w=shown, c=cursor: m.list(SUMMARIES, w, c, PAGE),
                                                  calls, 1))
    return {name: {page: round(statistics.median(values), 4) for page, values in pages.items()}
            for name, pages in samples.items()}


# -- SQLite -------------------------------------------------------------------------------------

# The cursor spelled with OR, as the issue measured it, and as the code had it just before this
# change: with a `sort <= :s` range in front, which seeks too but reads every tie of :s.
OLD_DEEP = ("SELECT data FROM documents WHERE view = ? AND (sort < ? OR (sort = ? AND key < ?)) "
            "ORDER BY sort DESC, key DESC LIMIT ?")
BEFORE_DEEP = ("SELECT data FROM documents WHERE view = ? AND sort <= ? AND (sort < ? OR (sort = ? AND key < ?)) "
               "ORDER BY sort DESC, key DESC LIMIT ?")
OLD_FILTERED = ("SELECT data FROM documents INDEXED BY {index} WHERE view = ? AND tag1 = ? AND tag2 = ? "
                "ORDER BY sort DESC, key DESC LIMIT ?")


def sqlite_sql(tags: tuple[int, ...], after: bool) -> str:
    from sqlalchemy.dialects import sqlite

    return str(LIST_DOCUMENTS[(tags, after)].compile(dialect=sqlite.dialect()))


def sqlite_cursors(connection: sqlite3.Connection, count: int) -> dict[str, tuple[str | None, str]]:
    """Per page: the cursor a walk holds before it, and the page's first order id."""

    def at_depth(depth: int, filtered: bool) -> tuple[str | None, str]:
        condition = "AND tag1 = ? AND tag2 = ?" if filtered else ""
        args: tuple[Any, ...] = (SUMMARIES.name, CUSTOMER, STATUS.value) if filtered else (SUMMARIES.name,)
        found = connection.execute(f"SELECT sort, key FROM documents WHERE view = ? {condition} "
                                   f"ORDER BY sort DESC, key DESC LIMIT 2 OFFSET ?", (*args, max(depth - 1, 0)))
        return walked_to(found.fetchall(), depth)

    matching = connection.execute("SELECT count(*) FROM documents WHERE view = ? AND tag1 = ? AND tag2 = ?",
                                  (SUMMARIES.name, CUSTOMER, STATUS.value)).fetchone()[0]
    return pages(at_depth, count, matching)


def pages(at_depth: Callable[[int, bool], tuple[str | None, str]], count: int,
          matching: int) -> dict[str, tuple[str | None, str]]:
    """The pages measured: first and half-way, of all orders and of the customer + status (whose
    half-way page needs two of its orders at least)."""
    found = {"first": at_depth(0, False), "deep": at_depth(count // 2, False), "filtered_first": at_depth(0, True)}
    if matching >= 2:
        found["filtered_deep"] = at_depth(matching // 2, True)
    return found


def walked_to(found: list[Any], depth: int) -> tuple[str | None, str]:
    """From the rows at offsets depth - 1 and depth: the cursor and the first order of the page."""
    if not depth:
        return None, found[0][1]
    (sort, key), (_, following) = found[:2]
    return encode_cursor(sort, key), following


def sqlite_plans(connection: sqlite3.Connection, cursors: dict[str, tuple[str | None, str]]) -> dict[str, str]:
    plans = {}
    for name, sql, args in sqlite_statements(cursors):
        plan = connection.execute(f"EXPLAIN QUERY PLAN {sql}", args).fetchall()
        plans[name] = "; ".join(row[3] for row in plan)
    return plans


def sqlite_statements(cursors: dict[str, tuple[str | None, str]]) -> list[tuple[str, str, tuple[Any, ...]]]:
    """(name, SQL, arguments) of each page as the adapter runs it, and of the old spellings."""
    from core.kernel.views import decode_cursor

    deep_sort, deep_key = decode_cursor(cursors["deep"][0] or "")
    view, limit = SUMMARIES.name, PAGE + 1
    statements = [
        ("first", sqlite_sql((), False), (view, limit, 0)),
        ("deep", sqlite_sql((), True), (view, deep_sort, deep_key, limit, 0)),
        ("filtered_first", sqlite_sql((1, 2), False), (view, CUSTOMER, STATUS.value, limit, 0)),
        ("old_deep", OLD_DEEP, (view, deep_sort, deep_sort, deep_key, limit)),
        ("before_deep", BEFORE_DEEP, (view, deep_sort, deep_sort, deep_sort, deep_key, limit)),
        # Before 0005 SQLite chose between these two; by status it reads every pending order.
        ("old_filtered_by_customer", OLD_FILTERED.format(index="ix_documents_tag1"),
         (view, CUSTOMER, STATUS.value, limit)),
        ("old_filtered_by_status", OLD_FILTERED.format(index="ix_documents_tag2"),
         (view, CUSTOMER, STATUS.value, limit)),
    ]
    if "filtered_deep" in cursors:
        f_sort, f_key = decode_cursor(cursors["filtered_deep"][0] or "")
        statements.append(("filtered_deep", sqlite_sql((1, 2), True),
                           (view, CUSTOMER, STATUS.value, f_sort, f_key, limit, 0)))
    return statements


def without_0005(path: Path, calls: int, rounds: int) -> tuple[str, float]:
    """The customer + status page on the schema before 0005 (its index dropped, so run last):
    SQLite's own choice of index."""
    sql = sqlite_sql((1, 2), False)
    args = (SUMMARIES.name, CUSTOMER, STATUS.value, PAGE + 1, 0)
    with sqlite3.connect(path) as connection:
        connection.execute("DROP INDEX ix_documents_tag1_tag2")
    # A new connection: sqlite3's statement cache would keep the plan made before the drop.
    connection = sqlite3.connect(path)
    try:
        plan = "; ".join(row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {sql}", args))
        return plan, p50_ms(lambda: connection.execute(sql, args).fetchall(), few(calls), rounds)
    finally:
        connection.close()


def sqlite_size(workdir: Path, count: int, calls: int, rounds: int) -> dict[str, Any]:
    directory = workdir / f"sqlite-{count}"
    target = sqlite_target(directory, "")
    SqlStorage(target).close()  # the adapter's migrations make the schema
    path = target.sqlite_path
    assert path is not None
    started = time.perf_counter()
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA synchronous=OFF")
        connection.executemany(f"INSERT INTO documents ({', '.join(COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                               rows(count))
    filled = time.perf_counter() - started
    connection = sqlite3.connect(path)
    try:
        cursors = sqlite_cursors(connection, count)
        plans = sqlite_plans(connection, cursors)
        sql_only = {name: p50_ms(lambda s=sql, a=args: connection.execute(s, a).fetchall(),
                                 few(calls) if name.startswith("old_") else calls, rounds)
                    for name, sql, args in sqlite_statements(cursors)}
    finally:
        connection.close()
    storage = SqlStorage(target)
    try:
        figures = port_figures({"new": storage.read_model, "before": BeforeReadModel(storage)}, cursors, calls,
                               rounds)
        port, before = figures["new"], figures["before"]
    finally:
        storage.close()
    plans["before_0005_filtered_first"], sql_only["before_0005_filtered_first"] = without_0005(
        path, calls, rounds)
    shutil.rmtree(directory, ignore_errors=True)
    return {"orders": count, "bulk_fill_s": round(filled, 1), "list_p50_ms": port,
            "before_list_p50_ms": before, "sql_only_p50_ms": sql_only, "plans": plans}


class BeforeReadModel:
    """The SQL `list` as it was before this change (a Core select built per call, run through
    `Connection`, documents read through Row objects), on the same database and indexes: the
    baseline for the Python around the SQL."""

    def __init__(self, storage: SqlStorage) -> None:
        self._db = storage._db  # the baseline runs on the adapter's own database

    def list(self, view: Any, where: tuple[str | None, ...] = (), cursor: str | None = None,
             limit: int = 50) -> Any:
        from sqlalchemy import and_, or_, select

        from adapters.outbound.sql.rows import document_from_data
        from adapters.outbound.sql.schema import documents
        from core.kernel.views import decode_cursor, page_of

        table = documents.c
        query = select(table.data).where(table.view == view.name)
        for number, value in enumerate(where, start=1):
            if value is not None:
                query = query.where(table[f"tag{number}"] == value)
        if cursor:
            sort, key = decode_cursor(cursor)
            query = query.where(table.sort <= sort, or_(table.sort < sort, and_(table.sort == sort, table.key < key)))
        query = query.order_by(table.sort.desc(), table.key.desc()).limit(limit + 1)
        with self._db.reading() as connection:
            found = connection.execute(query).scalars().all()
        return page_of([document_from_data(view, data) for data in found], view, limit)


# -- the file store -----------------------------------------------------------------------------

def file_store(workdir: Path, count: int, batch: int, calls: int, rounds: int) -> dict[str, Any]:
    directory = workdir / "files"
    storage = FileStorage(directory, feed=RingBufferFeed(100))
    line = [OrderLine(ln.sku, ln.quantity, Money(ln.unit_price, "EUR")) for ln in LINES]
    tenth = max(count // 10 // batch, 1) * batch
    rates: list[float] = []
    snapshots = 0
    snapshot_inode = None
    try:
        started = time.perf_counter()
        for first in range(0, count, batch):
            with UnitOfWork(storage.committer, project=CONTEXT.project, events_topic="orders") as uow:
                for number in range(first, min(first + batch, count)):
                    order = Order.place(order_id=f"o-{number:09d}", customer_id=customer(number), currency="EUR",
                                        lines=line, now=BASE + timedelta(milliseconds=number // 2),
                                        event_id=f"e-{number:09d}")
                    if STATUSES[number % 10] is not OrderStatus.PENDING:
                        order.approve(now=order.created_at, event_id=f"a-{number:09d}")
                    uow.repository(ORDER).add(order)
                uow.commit()
            number = min(first + batch, count) - 1
            if (number + 1) % tenth == 0:
                now = time.perf_counter()
                rates.append(round(tenth / (now - started)))
                started = now
                inode = os.stat(directory / journal.SNAPSHOT).st_ino if (directory / journal.SNAPSHOT).exists() \
                    else None
                if inode is not None and inode != snapshot_inode:
                    snapshots, snapshot_inode = snapshots + 1, inode
                print(f"  file store: {number + 1:>7} orders, last tenth at {rates[-1]:>5} orders/s")
        documents = storage._store.state.documents[SUMMARIES.name]  # the old list, for its cost
        ordered = sorted(((sort, key) for key, sort, _, _ in documents.entries()), reverse=True)
        # Statuses here come from approving (approved, not shipped or rejected): pending stays 10%.
        filtered = sorted(((sort, key) for key, sort, tags, _ in documents.entries()
                           if tags == (CUSTOMER, STATUS.value)), reverse=True)
        cursors = pages(lambda depth, only: walked_to((filtered if only else ordered)[max(depth - 1, 0):], depth),
                        count, len(filtered))
        port = port_figures({"new": storage.read_model}, cursors, calls, rounds)["new"]

        def old_list() -> object:
            # What a list cost before: filter and sort every summary, per call.
            return sorted(((sort, key, doc) for key, sort, tags, doc in documents.entries()
                           if tags[0] == CUSTOMER and tags[1] == STATUS.value), key=lambda r: (r[0], r[1]),
                          reverse=True)[:PAGE + 1]
        old = p50_ms(old_list, few(calls), rounds)
    finally:
        storage.close()
        shutil.rmtree(directory, ignore_errors=True)
    return {"orders": count, "orders_per_unit_of_work": batch, "fill_orders_per_s_by_tenth": rates,
            "snapshots_written_during_fill": snapshots,
            "fill_last_vs_first_tenth": round(rates[-1] / rates[0], 3), "list_p50_ms": port,
            "old_sort_every_summary_filtered_p50_ms": old}


# -- PostgreSQL ---------------------------------------------------------------------------------

def postgres(workdir: Path, count: int, calls: int, rounds: int) -> dict[str, Any]:
    import psycopg
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.engine import make_url

    server = BenchPostgres(workdir)
    try:
        url = server.migrated("bench_growth")
        target = postgres_target(Path(), url)
        libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        started = time.perf_counter()
        with psycopg.connect(libpq) as connection:
            with connection.cursor().copy(f"COPY documents ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in rows(count):
                    copy.write_row(row)
            connection.commit()
            connection.autocommit = True
            connection.execute("ANALYZE documents")
        filled = time.perf_counter() - started
        with psycopg.connect(libpq) as connection:
            cursors = postgres_cursors(connection, count)
            plans, sql_only = postgres_plans(connection, cursors, calls, rounds, postgresql.dialect())
        storage = SqlStorage(target)
        try:
            figures = port_figures({"new": storage.read_model, "before": BeforeReadModel(storage)}, cursors,
                                   calls, rounds)
            port, before = figures["new"], figures["before"]
        finally:
            storage.close()
    finally:
        server.stop()
    return {"orders": count, "bulk_fill_s": round(filled, 1), "list_p50_ms": port,
            "before_list_p50_ms": before, "sql_only_p50_ms": sql_only, "plans": plans}


def postgres_cursors(connection: Any, count: int) -> dict[str, tuple[str | None, str]]:
    def at_depth(depth: int, filtered: bool) -> tuple[str | None, str]:
        condition = "AND tag1 = %s AND tag2 = %s" if filtered else ""
        args: tuple[Any, ...] = (SUMMARIES.name, CUSTOMER, STATUS.value) if filtered else (SUMMARIES.name,)
        found = connection.execute(f"SELECT sort, key FROM documents WHERE view = %s {condition} "
                                   f"ORDER BY sort DESC, key DESC LIMIT 2 OFFSET %s", (*args, max(depth - 1, 0)))
        return walked_to(found.fetchall(), depth)

    matching = connection.execute("SELECT count(*) FROM documents WHERE view = %s AND tag1 = %s AND tag2 = %s",
                                  (SUMMARIES.name, CUSTOMER, STATUS.value)).fetchone()[0]
    return pages(at_depth, count, matching)


def postgres_plans(connection: Any, cursors: dict[str, tuple[str | None, str]], calls: int, rounds: int,
                   dialect: Any) -> tuple[dict[str, str], dict[str, float]]:
    """EXPLAIN ANALYZE of each page with its values, the generic plan a prepared statement ends
    up with, and the SQL's p50 alone."""
    from core.kernel.views import decode_cursor

    deep_sort, deep_key = decode_cursor(cursors["deep"][0] or "")
    base = {"view": SUMMARIES.name, "limit": PAGE + 1}
    shapes = {
        "first": (((), False), base),
        "deep": (((), True), {**base, "after_sort": deep_sort, "after_key": deep_key}),
        "filtered_first": (((1, 2), False), {**base, "tag1": CUSTOMER, "tag2": STATUS.value}),
    }
    if "filtered_deep" in cursors:
        f_sort, f_key = decode_cursor(cursors["filtered_deep"][0] or "")
        shapes["filtered_deep"] = (((1, 2), True), {**base, "tag1": CUSTOMER, "tag2": STATUS.value,
                                                    "after_sort": f_sort, "after_key": f_key})
    plans: dict[str, str] = {}
    sql_only: dict[str, float] = {}
    for name, (shape, params) in shapes.items():
        sql = str(LIST_DOCUMENTS[shape].compile(dialect=dialect))
        found = connection.execute(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {sql}", params).fetchall()
        plans[name] = " | ".join(row[0].strip() for row in found)
        # The plan without the values, which PostgreSQL may settle on once psycopg prepares it.
        numbered = re.sub(r"%\((\w+)\)s", lambda m, p=params: f"${list(p).index(m.group(1)) + 1}", sql)
        generic = connection.execute(f"EXPLAIN (GENERIC_PLAN, COSTS OFF) {numbered}").fetchall()
        plans[f"{name}_generic"] = " | ".join(row[0].strip() for row in generic)
        sql_only[name] = p50_ms(lambda s=sql, p=params: connection.execute(s, p).fetchall(), calls, rounds)
    old = ("SELECT data FROM documents WHERE view = %(view)s AND (sort < %(s)s OR (sort = %(s)s AND key < %(k)s)) "
           "ORDER BY sort DESC, key DESC LIMIT %(limit)s")
    old_params = {**base, "s": deep_sort, "k": deep_key}
    found = connection.execute(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {old}", old_params).fetchall()
    plans["old_deep"] = " | ".join(row[0].strip() for row in found)
    sql_only["old_deep"] = p50_ms(lambda: connection.execute(old, old_params).fetchall(), few(calls), rounds)
    return plans, sql_only


# -- the run ------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="SQLite store sizes")
    parser.add_argument("--file-orders", type=int, default=100_000)
    parser.add_argument("--file-batch", type=int, default=10,
                        help="orders per unit of work (one journal line and fdatasync each) filling the file store")
    parser.add_argument("--postgres-orders", type=int, default=100_000, help="0: no PostgreSQL")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="orderhex-growth-"))
    results: dict[str, Any] = {"benchmark": "growth", "page": PAGE, "calls": args.calls, "rounds": args.rounds,
                               "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
                               "at": datetime.now(UTC).isoformat(timespec="seconds"),
                               "load_average_before": os.getloadavg()}
    try:
        results["sqlite"] = {}
        for count in (int(size) for size in args.sizes.split(",")):
            figures = sqlite_size(workdir, count, args.calls, args.rounds)
            results["sqlite"][str(count)] = figures
            show(f"SQLite {count:>9,}", figures)
        if args.file_orders:
            figures = file_store(workdir, args.file_orders, args.file_batch, args.calls, args.rounds)
            results["file"] = figures
            show(f"file   {args.file_orders:>9,}", figures)
            print(f"  old list (sort every summary), filtered: {figures['old_sort_every_summary_filtered_p50_ms']} ms")
        if args.postgres_orders:
            figures = postgres(workdir, args.postgres_orders, args.calls, args.rounds)
            results["postgres"] = figures
            show(f"Postgres {args.postgres_orders:>7,}", figures)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["load_average_after"] = os.getloadavg()
    headlines = headline(results)
    results["headlines"] = headlines
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"load average {os.getloadavg()[0]:.2f} (before: {results['load_average_before'][0]:.2f}); "
          f"written to {RESULTS}")
    for name, value in headlines.items():
        print(f"growth.{name} = {value} (target 2)")


def show(label: str, figures: dict[str, Any]) -> None:
    port = figures["list_p50_ms"]
    if "before_list_p50_ms" in figures:
        before = figures["before_list_p50_ms"]
        print(f"{label}: before   p50 ms  first {before['first']:.3f}  deep {before['deep']:.3f}  "
              f"filtered first {before['filtered_first']:.3f}  "
              f"filtered deep {before.get('filtered_deep', float('nan')):.3f}  (same indexes)")
    print(f"{label}: list p50 ms  first {port['first']:.3f}  deep {port['deep']:.3f}  "
          f"filtered first {port['filtered_first']:.3f}  filtered deep {port.get('filtered_deep', float('nan')):.3f}")
    for name, value in figures.get("sql_only_p50_ms", {}).items():
        print(f"    SQL alone {name:<20} {value:9.3f} ms   {figures['plans'].get(name, '')}")
    for name, plan in figures.get("plans", {}).items():
        if name.endswith("_generic"):
            print(f"    generic plan {name:<26} {plan}")
    if "fill_orders_per_s_by_tenth" in figures:
        print(f"    fill orders/s by tenth {figures['fill_orders_per_s_by_tenth']}, "
              f"snapshots written {figures['snapshots_written_during_fill']}")


def headline(results: dict[str, Any]) -> dict[str, float]:
    """The headline figures: deep page and filtered (the slower of first and deep) at the largest
    SQLite size, and the slowest page of the file store."""
    found: dict[str, float] = {}
    sizes = results["sqlite"]
    if sizes:
        largest = max(sizes, key=int)
        label = "1m" if int(largest) == 1_000_000 else f"{int(largest) // 1000}k"
        port = sizes[largest]["list_p50_ms"]
        found[f"sqlite_{label}_deep_page_p50_ms"] = port["deep"]
        found[f"sqlite_{label}_filtered_p50_ms"] = max(value for name, value in port.items()
                                                       if name.startswith("filtered"))
    if "file" in results:
        label = f"{results['file']['orders'] // 1000}k"
        found[f"file_{label}_list_p50_ms"] = max(results["file"]["list_p50_ms"].values())
    return found


if __name__ == "__main__":
    main()
