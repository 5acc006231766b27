"""Where the database is and how to connect to it: URLs, per-connection settings, and turning
driver errors into messages that name the database and say what to do."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from adapters.outbound.sql.embedded import start_embedded
from core.kernel.errors import Unavailable

SQLITE_FILE = "orderhex.sqlite3"
# A connection carrying this execution option opens its transaction as a writer.
WRITER = {"orderhex_writer": True}


@dataclass(frozen=True)
class SqlTarget:
    """A database to open. `shown` names it for people (a path, or a URL without password);
    `managed` databases belong to orderhex alone, so it upgrades their schema itself."""

    url: URL
    shown: str
    managed: bool
    busy_timeout_ms: int = 5000
    connect_timeout_s: int = 5

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    @property
    def sqlite_path(self) -> Path | None:
        return Path(self.url.database) if self.dialect == "sqlite" and self.url.database else None


def target_for(adapter: str, data_dir: Path, url: str, *, busy_timeout_ms: int = 5000,
               connect_timeout_s: int = 5, service: str | None = None) -> SqlTarget | None:
    """The database a storage adapter stands for, or None if it is not a SQL adapter.

    `storage.url` is shared by both SQL adapters so a running service can switch between them:
    each uses the URL only when it is of its own kind, and its embedded database otherwise.
    `service` names a database of its own beside that one (database per service): SQLite
    `orderhex-<service>.sqlite3` next to the file, PostgreSQL `<database>_<service>` on the same
    server, created when missing.
    """
    kind = url.split(":", 1)[0].split("+", 1)[0] if "://" in url else ""
    if adapter == "sqlite":
        return _beside(sqlite_target(data_dir, url if kind == "sqlite" else "", busy_timeout_ms), service)
    if adapter == "postgres":
        return _beside(postgres_target(data_dir, url if kind != "sqlite" else "", connect_timeout_s), service)
    return None


def _beside(target: SqlTarget, service: str | None) -> SqlTarget:
    if service is None:
        return target
    if target.dialect == "sqlite":
        path = target.sqlite_path
        assert path is not None
        own = path.with_name(f"{path.stem}-{service}{path.suffix}")
        return SqlTarget(target.url.set(database=str(own)), f"SQLite file {own}", target.managed,
                         target.busy_timeout_ms)
    database = f"{target.url.database or 'postgres'}_{service}"
    _create_database(target, database)
    url = target.url.set(database=database)
    shown = url.render_as_string(hide_password=True).replace("postgresql+psycopg", "postgresql", 1)
    return SqlTarget(url, f"PostgreSQL {shown}" if not target.managed else f"{target.shown}, database {database}",
                     target.managed, connect_timeout_s=target.connect_timeout_s)


def _create_database(target: SqlTarget, database: str) -> None:
    """CREATE DATABASE on the target's server unless it exists (PostgreSQL has no IF NOT EXISTS)."""
    engine = create_engine(target.url, isolation_level="AUTOCOMMIT",
                           connect_args={"connect_timeout": target.connect_timeout_s})
    try:
        with translated(target), engine.connect() as connection:
            exists = connection.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).first()
            if exists is None:
                connection.exec_driver_sql(f'CREATE DATABASE "{database}"')
    except DBAPIError as exc:
        if "already exists" not in str(exc):  # another service process created it first
            raise Unavailable(target.shown, f"cannot create the database {database} ({exc.orig})",
                              "create it, or grant CREATEDB to the user in storage.url") from exc
    finally:
        engine.dispose()


def sqlite_target(data_dir: Path, url: str, busy_timeout_ms: int = 5000) -> SqlTarget:
    """The SQLite file: `<data_dir>/orderhex.sqlite3` (managed), or a `sqlite:///path` URL."""
    if not url:
        path = (data_dir / SQLITE_FILE).resolve()
        return SqlTarget(URL.create("sqlite+pysqlite", database=str(path)), f"SQLite file {path}", True,
                         busy_timeout_ms)
    parsed = _parse(url, "sqlite")
    if not parsed.database or parsed.database == ":memory:":
        raise Unavailable(f"storage.url {url!r}", "the sqlite adapter needs a database file",
                          "Use sqlite:////absolute/path.sqlite3, or leave storage.url empty for the data directory")
    return SqlTarget(parsed.set(drivername="sqlite+pysqlite"), f"SQLite file {parsed.database}", False,
                     busy_timeout_ms)


def postgres_target(data_dir: Path, url: str, connect_timeout_s: int = 5) -> SqlTarget:
    """A PostgreSQL URL, or `embedded` (also the empty default): a server in `<data_dir>/postgres`."""
    if url in ("", "embedded"):
        directory = (data_dir / "postgres").resolve()
        parsed = _parse(start_embedded(directory), "postgresql").set(drivername="postgresql+psycopg")
        return SqlTarget(parsed, f"embedded PostgreSQL in {directory}", True, connect_timeout_s=connect_timeout_s)
    parsed = _parse(url, "postgresql").set(drivername="postgresql+psycopg")
    shown = parsed.render_as_string(hide_password=True).replace("postgresql+psycopg", "postgresql", 1)
    return SqlTarget(parsed, f"PostgreSQL {shown}", False, connect_timeout_s=connect_timeout_s)


def _parse(url: str, backend: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise Unavailable(f"storage.url {url!r}", "it is not a database URL", f"Use a {backend} URL") from exc
    if parsed.get_backend_name() != backend:
        raise Unavailable(f"storage.url {url!r}", f"it is a {parsed.get_backend_name()} URL, not {backend}",
                          f"Use a {backend} URL or pick the matching storage.adapter")
    return parsed


def open_engine(target: SqlTarget) -> Engine:
    if target.dialect == "sqlite":
        path = target.sqlite_path
        assert path is not None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise Unavailable(target.shown, f"cannot create its directory: {exc}",
                              "Set data_dir (ORDERHEX_DATA_DIR) to a writable directory") from exc
        # LIFO: the most recently used connection, whose page cache is warm, serves the next call.
        engine = create_engine(target.url, pool_use_lifo=True,
                               connect_args={"timeout": target.busy_timeout_ms / 1000})
        _sqlite_transactions(engine, target.busy_timeout_ms)
        return engine
    # PostgreSQL keeps its default READ COMMITTED: a writer blocked on a row lock or a unique
    # index re-checks after the first one commits, which is what the version checks rely on.
    # The pool keeps up to 25 idle connections (default 5): a relay holds one per claimed batch
    # not yet marked (RelaySettings.claims_held, 24), and a connection made for each batch and
    # closed after it would cost more than the batch's own statements.
    return create_engine(target.url, pool_pre_ping=True, pool_size=25,
                         connect_args={"connect_timeout": target.connect_timeout_s})


def _sqlite_transactions(engine: Engine, busy_timeout_ms: int) -> None:
    """pysqlite's own transaction handling is off (SQLAlchemy's recipe), so orderhex emits BEGIN
    itself: `BEGIN IMMEDIATE` for writers takes the write lock up front, which avoids the
    deadlock of two readers both trying to upgrade to writers."""

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", f"busy_timeout={busy_timeout_ms}",
                           "foreign_keys=ON"):
                cursor.execute(f"PRAGMA {pragma}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get("orderhex_writer", False)
        # Straight to the driver: exec_driver_sql would cost a full execution context per transaction.
        driver: sqlite3.Connection = connection.connection.driver_connection  # type: ignore[assignment]
        driver.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")


def describe_failure(target: SqlTarget, exc: BaseException) -> Unavailable:
    """The Unavailable error for a driver failure on `target`: what happened and what to do."""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    if target.dialect == "sqlite":
        if "not a database" in reason or "malformed" in reason:
            hint = ("It is not a SQLite database or it is damaged; nothing was changed: move it aside "
                    "or restore a backup, then start again")
        elif "locked" in reason or "busy" in reason:
            hint = "Another process holds its write lock; retry, or raise storage.busy_timeout_ms"
        else:
            hint = "Check that the file and its directory are readable and writable (data_dir)"
    else:
        hint = "Check that the server runs and storage.url (host, port, database, user) is right"
    return Unavailable(target.shown, reason, hint)


@contextmanager
def translated(target: SqlTarget) -> Iterator[None]:
    """Turn connection-level driver errors into Unavailable naming the database."""
    try:
        yield
    except OperationalError as exc:
        raise describe_failure(target, exc) from exc
    except DBAPIError as exc:
        if exc.connection_invalidated or (isinstance(exc.orig, sqlite3.DatabaseError) and not isinstance(
                exc.orig, sqlite3.IntegrityError)):
            raise describe_failure(target, exc) from exc
        raise
