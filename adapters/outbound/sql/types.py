"""Column types both dialects store the same way."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime in, an aware UTC datetime out.

    PostgreSQL keeps the instant (timestamptz); SQLite has no time zones, so the value is
    stored as naive UTC text and gets its UTC zone back when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        utc = value if value.tzinfo is UTC else (
            value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC))
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        # SQLite's text in one step: the same text as process_bind_param then SQLAlchemy's
        # DATETIME format ("2026-12-02 16:43:01.123456"), at a third of the two's cost (a placed
        # order binds about ten datetimes).
        def to_text(value: datetime | None) -> str | None:
            if value is None:
                return None
            utc = value if value.tzinfo is UTC or value.tzinfo is None else value.astimezone(UTC)
            return utc.isoformat(" ", "microseconds")[:26]  # without the "+00:00"

        return to_text

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_from_driver(value: datetime | str | None) -> datetime | None:
    """A UtcDateTime column as a driver returns it, without SQLAlchemy's result processing:
    SQLite's text (naive UTC) or PostgreSQL's aware datetime, as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
