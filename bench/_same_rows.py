"""What the benchmarks that compare orderhex with a raw driver writing the same rows share
(bench/place_order.py, bench/writers.py): the order they place, an application on SQL storage,
and the recording of the statements one placed order runs on the driver, to be replayed with raw
sqlite3 (or psycopg) for every order with fresh ids.

Why record instead of writing the baseline's SQL by hand: a hand-written baseline drifts from
what orderhex writes (bench/place_order.py's old one wrote 4 rows where orderhex writes 14, and
half the WAL pages). Recorded, the baseline writes exactly orderhex's rows with orderhex's own
statements, whatever the adapter writes today.

Not a benchmark itself: `make bench` skips bench/_*.py.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import event

import bootstrap
from adapters.outbound.sql import prepared
from core.orders.commands import LineItem, PlaceOrder

LINES = (LineItem("SKU-1", 2, Decimal("9.99")), LineItem("SKU-2", 1, Decimal("4.50")))
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Tables a fresh, migrated database already fills: the copy for the baseline keeps their rows.
SCHEMA_TABLES = {"alembic_version", "schema_version", "projection_position"}

Statement = tuple[str, Any]


def command(number: int, key: str | None = None) -> PlaceOrder:
    return PlaceOrder(customer_id=f"c-{number % 97}", currency="EUR", lines=LINES, idempotency_key=key)


def open_app(data_dir: Path, overrides: Mapping[str, Any] | None = None) -> bootstrap.Application:
    """orderhex on SQLite in `data_dir` (or whatever `overrides` say), messages kept in memory."""
    return bootstrap.Application(bootstrap.load_config(env={}, overrides={
        "messaging.adapter": "memory", "storage.adapter": "sqlite", "data_dir": str(data_dir),
        **(overrides or {})}))


def database_file(app: bootstrap.Application) -> Path:
    return Path(str(app.switchboard.get("orders.storage")._db.target.url.database))


@dataclass
class Recording:
    """One placed order as the store ran it.

    `transaction`: the statements of its write transaction on the driver, in order (on SQLite
    from the `BEGIN IMMEDIATE`), the commit excluded. `outside`: the SQL it ran outside that
    transaction, on the calling thread (reads on other drivers, or through SQLAlchemy), such as
    an idempotency-key lookup. `database`: for SQLite, a copy of the migrated database with no
    rows, to replay on; None for a server.
    """

    transaction: list[Statement]
    outside: list[str] = field(default_factory=list)
    database: Path | None = None


def record(data_dir: Path, overrides: Mapping[str, Any] | None = None, key: str | None = None) -> Recording:
    """Place one order (with idempotency key `key` if given) on a fresh application and record
    what its store ran. A first order, not recorded, warms first-use reads and caches."""
    app = open_app(data_dir, overrides)
    runs: list[tuple[prepared.Driver, str, Any]] = []
    committed: list[prepared.Driver] = []
    outside: list[str] = []
    me = threading.get_ident()  # the application's own threads are not the order's
    original_run, original_end = prepared.Driver.run, prepared.Driver.end

    def recording(driver: prepared.Driver, sql: str, params: Any = (), *, many: bool = False) -> Any:
        if threading.get_ident() == me:
            # One statement per row: an executemany costs about what its rows cost one by one.
            runs.extend((driver, sql, row) for row in (params if many else [params]))
        return original_run(driver, sql, params, many=many)

    def ending(driver: prepared.Driver, commit: bool) -> None:
        if commit and threading.get_ident() == me:
            committed.append(driver)
        original_end(driver, commit)

    def through_sqlalchemy(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if threading.get_ident() == me:
            outside.append(sql)

    storage = app.switchboard.get("orders.storage")
    engine = storage._db.engine
    try:
        app.bus.handle(command(0, None if key is None else "00000000-0000-4000-8000-000000000000"))
        prepared.Driver.run = recording  # type: ignore[method-assign]
        prepared.Driver.end = ending  # type: ignore[method-assign]
        event.listen(engine, "before_cursor_execute", through_sqlalchemy)
        try:
            app.bus.handle(command(1, key))
        finally:
            prepared.Driver.run = original_run  # type: ignore[method-assign]
            prepared.Driver.end = original_end  # type: ignore[method-assign]
            event.remove(engine, "before_cursor_execute", through_sqlalchemy)
        path = database_file(app) if storage._db.dialect == "sqlite" else None
    finally:
        app.close()
    assert len(committed) == 1, f"one placed order committed {len(committed)} write transactions"
    transaction = [(sql, params) for driver, sql, params in runs if driver is committed[0]]
    outside[:0] = [sql for driver, sql, _ in runs if driver is not committed[0]]
    if path is None:
        return Recording(transaction, outside)
    fresh = data_dir / "raw.sqlite3"
    shutil.copy(path, fresh)
    with sqlite3.connect(fresh) as connection:  # the same schema, no rows
        tables = [row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        for table in tables:
            if table not in SCHEMA_TABLES:
                connection.execute(f'DELETE FROM "{table}"')  # names from the schema itself
    return Recording(transaction, outside, fresh)


def record_one_order(data_dir: Path) -> tuple[Path, list[Statement]]:
    """A migrated, empty orderhex database, and the write transaction one placed order runs."""
    recorded = record(data_dir)
    assert recorded.database is not None
    assert recorded.transaction and recorded.transaction[0][0].startswith("BEGIN"), recorded.transaction[:1]
    return recorded.database, recorded.transaction


def with_fresh_ids(template: list[Statement], number: int) -> list[Statement]:
    """The recorded statements with every uuid replaced by one unique to order `number`."""
    ids: dict[str, str] = {}

    def fresh(match: re.Match[str]) -> str:
        found = match.group(0)
        if found not in ids:
            ids[found] = f"{number:08x}-{len(ids):04x}-7000-8000-{number:012x}"
        return ids[found]

    def swap(value: Any) -> Any:
        return UUID.sub(fresh, value) if isinstance(value, str) else value

    return [(sql, tuple(swap(v) for v in params) if isinstance(params, tuple)
             else {k: swap(v) for k, v in params.items()} if isinstance(params, dict) else params)
            for sql, params in template]
