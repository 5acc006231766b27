"""A damaged file, an unreachable server, a schema older or newer than the code: each is refused
with a message naming the database and what to do, and nothing is deleted or overwritten."""

from __future__ import annotations

import argparse
import socket
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from adapters.outbound.sql import db_command
from adapters.outbound.sql.engine import SQLITE_FILE, target_for
from adapters.outbound.sql.migrate import _script
from adapters.outbound.sql.storage import open_sql_storage
from core.kernel.errors import Unavailable
from tests.contract.orders_fixtures import place

HEAD = _script().get_current_head()


def open_store(adapter: str, data_dir: Path, url: str = "") -> Any:
    return open_sql_storage(adapter, data_dir, url, mode="state", snapshot_every=50, connect_timeout_s=2)


def db(capsys: pytest.CaptureFixture[str], adapter: str, data_dir: Path, url: str,
       action: str) -> tuple[int, str, str]:
    """`orderhex db ACTION` for the store the settings name: what the CLI hands db_command, with
    the target read from the settings as the composition root reads it."""
    code = db_command.run(argparse.Namespace(action=action, json=False), target_for(adapter, data_dir, url))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def alembic_version(url: str) -> str | None:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def test_a_corrupt_sqlite_file_is_named_and_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / SQLITE_FILE
    damage = b"this is not a database, it is a shopping list\n" * 200
    path.write_bytes(damage)
    with pytest.raises(Unavailable) as caught:
        open_store("sqlite", tmp_path)
    message = str(caught.value)
    assert str(path) in message and "It is not a SQLite database or it is damaged" in message
    assert "move it aside or restore a backup" in message
    assert path.read_bytes() == damage
    assert sorted(p.name for p in tmp_path.iterdir()) == [SQLITE_FILE]


def test_an_unreachable_postgres_server_is_named_without_its_password(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://orderhex:s3cret@127.0.0.1:{port}/orders"
    with pytest.raises(Unavailable) as caught:
        open_store("postgres", tmp_path, url)
    message = str(caught.value)
    assert f"127.0.0.1:{port}/orders" in message and "s3cret" not in message
    assert "Check that the server runs and storage.url" in message


def test_the_default_sqlite_store_creates_and_upgrades_its_schema_itself(tmp_path: Path) -> None:
    store = open_store("sqlite", tmp_path / "fresh")
    try:
        place(store)
        assert store.outbox.pending_count() == 1
    finally:
        store.close()
    assert alembic_version(f"sqlite:///{tmp_path / 'fresh' / SQLITE_FILE}") == HEAD


def test_a_sqlite_url_with_an_older_schema_is_refused_until_db_upgrade(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "shared.sqlite3"
    sqlite3.connect(path).close()  # an empty database: older than any revision
    url = f"sqlite:///{path}"
    with pytest.raises(Unavailable) as caught:
        open_store("sqlite", tmp_path, url)
    message = str(caught.value)
    assert str(path) in message and "older" in message and "run `orderhex db upgrade`" in message
    assert not _has_version_table(path)

    code, out, _ = db(capsys, "sqlite", tmp_path, url, "current")
    assert code == 0 and "empty (head is" in out
    code, out, _ = db(capsys, "sqlite", tmp_path, url, "upgrade")
    assert code == 0 and f"upgraded from an empty schema to {HEAD}" in out
    code, out, _ = db(capsys, "sqlite", tmp_path, url, "current")
    assert code == 0 and f"{HEAD} (head)" in out
    store = open_store("sqlite", tmp_path, url)
    place(store)
    store.close()


def test_a_sqlite_schema_newer_than_the_code_is_refused_and_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = open_store("sqlite", tmp_path)
    order = place(store)
    store.close()
    path = tmp_path / SQLITE_FILE
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    connection.close()

    with pytest.raises(Unavailable) as caught:
        open_store("sqlite", tmp_path)
    message = str(caught.value)
    assert str(path) in message and "9999_from_the_future, newer than this orderhex" in message
    with pytest.raises(Unavailable, match="newer than this orderhex"):  # the CLI's exit 1, one line
        db(capsys, "sqlite", tmp_path, "", "upgrade")
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchone() == ("9999_from_the_future",)
        assert connection.execute("SELECT id FROM aggregates").fetchall() == [(order.id,)]
    connection.close()


@pytest.mark.postgres
def test_a_postgres_database_with_an_older_schema_is_refused_until_db_upgrade(
    empty_postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(Unavailable) as caught:
        open_store("postgres", tmp_path, empty_postgres_url)
    message = str(caught.value)
    assert "PostgreSQL postgresql://" in message and "run `orderhex db upgrade`" in message
    assert alembic_version_or_none(empty_postgres_url) is None

    code, out, _ = db(capsys, "postgres", tmp_path, empty_postgres_url, "upgrade")
    assert code == 0 and f"to {HEAD}" in out
    store = open_store("postgres", tmp_path, empty_postgres_url)
    try:
        place(store)
        assert store.outbox.pending_count() == 1
    finally:
        store.close()


@pytest.mark.postgres
def test_a_postgres_schema_newer_than_the_code_is_refused_and_kept(
    empty_postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert db(capsys, "postgres", tmp_path, empty_postgres_url, "upgrade")[0] == 0
    engine = create_engine(empty_postgres_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    engine.dispose()
    with pytest.raises(Unavailable, match="9999_from_the_future, newer than this orderhex"):
        open_store("postgres", tmp_path, empty_postgres_url)
    with pytest.raises(Unavailable, match="newer than this orderhex"):
        db(capsys, "postgres", tmp_path, empty_postgres_url, "current")
    assert alembic_version(empty_postgres_url) == "9999_from_the_future"


def test_db_commands_refuse_a_store_that_is_not_sql(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = db(capsys, "memory", tmp_path, "", "upgrade")
    assert code == 2 and "storage.adapter is not sqlite or postgres" in err and err.count("\n") == 1


def _has_version_table(path: Path) -> bool:
    with sqlite3.connect(path) as connection:
        found = connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'alembic_version'").fetchone()
    connection.close()
    return found is not None


def alembic_version_or_none(url: str) -> str | None:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            exists = connection.execute(text("SELECT to_regclass('alembic_version')")).scalar()
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar() if exists else None
    finally:
        engine.dispose()
