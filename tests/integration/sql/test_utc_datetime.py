"""Times on SQLite: the one-step bind gives exactly the text SQLAlchemy's own DATETIME would
store, so rows written before and after it sort and compare alike, and read back as the instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Column, DateTime, MetaData, Table, create_engine, insert, select
from sqlalchemy.dialects import sqlite

from adapters.outbound.sql.types import UtcDateTime, utc_from_driver

TIMES = [
    datetime(2026, 12, 2, 16, 43, 1, 123456, tzinfo=UTC),
    datetime(2026, 12, 2, 16, 43, 1, tzinfo=UTC),  # no microseconds: still six digits
    datetime(2026, 12, 2, 18, 43, 1, 5, tzinfo=timezone(timedelta(hours=2))),
    datetime(2026, 1, 2, 3, 4, 5),  # naive: taken as UTC
    datetime(999, 1, 1, tzinfo=UTC),  # a year of three digits is padded
]


@pytest.mark.parametrize("value", TIMES, ids=str)
def test_the_text_stored_on_sqlite_is_sqlalchemy_datetime_text_of_the_utc_instant(value: datetime) -> None:
    dialect = sqlite.dialect()
    decorator = UtcDateTime()
    ours = decorator.bind_processor(dialect)
    theirs = DateTime(timezone=True).dialect_impl(dialect).bind_processor(dialect)
    assert ours is not None and theirs is not None
    assert ours(value) == theirs(decorator.process_bind_param(value, dialect))
    assert ours(None) is None


def test_a_time_written_with_an_offset_reads_back_as_the_same_instant_in_utc(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/t.sqlite3")
    table = Table("t", MetaData(), Column("at", UtcDateTime()))
    table.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(insert(table), [{"at": value} for value in TIMES])
        read = connection.execute(select(table.c.at)).scalars().all()
    assert read == [value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC) for value in TIMES]
    assert all(value.tzinfo is UTC for value in read)


@pytest.mark.parametrize("value", TIMES, ids=str)
def test_a_time_read_on_the_driver_is_the_instant_sqlalchemy_reads(tmp_path: Path, value: datetime) -> None:
    """Hot reads skip SQLAlchemy's result processing; they must still get the same datetime."""
    engine = create_engine(f"sqlite:///{tmp_path}/t.sqlite3")
    table = Table("t", MetaData(), Column("at", UtcDateTime()))
    table.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(insert(table), [{"at": value}])
        processed = connection.execute(select(table.c.at)).scalar_one()
        stored = connection.exec_driver_sql("SELECT at FROM t").scalar_one()
    assert isinstance(stored, str)
    assert utc_from_driver(stored) == processed and utc_from_driver(processed) == processed
    assert utc_from_driver(None) is None
