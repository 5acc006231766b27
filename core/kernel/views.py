"""Read models as views: named collections of documents that queries page through (CQRS).

A context declares a View (its name, how a document is keyed, sorted and filtered, and its JSON
form); stores keep any view's documents without knowing them. Lists run newest first by
(sort, key); a cursor points just after the last item of a page.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from core.kernel.errors import ValidationError

T = TypeVar("T")
MAX_FILTERS = 3


@dataclass(frozen=True, eq=False)
class View(Generic[T]):
    """One read model.

    - `name`: qualified ("orders.summaries").
    - `key(doc)`: the document's identity; `sort(doc)`: text whose order is the list order
      (descending), e.g. `sort_time(created_at)`.
    - `filters`: names of the fields a list may filter by (at most three); `tags(doc)` their
      values for a document, in the same order.
    - `to_json` / `from_json`: the document as stored.
    """

    name: str
    key: Callable[[T], str]
    sort: Callable[[T], str]
    filters: tuple[str, ...]
    tags: Callable[[T], tuple[str | None, ...]]
    to_json: Callable[[T], dict[str, Any]]
    from_json: Callable[[dict[str, Any]], T]

    def __post_init__(self) -> None:
        if len(self.filters) > MAX_FILTERS:
            raise ValueError(f"view {self.name}: at most {MAX_FILTERS} filters, got {self.filters}")

    def where(self, **values: str | None) -> tuple[str | None, ...]:
        """Filter values in the view's order (None: any), from keyword arguments by filter name."""
        unknown = sorted(set(values) - set(self.filters))
        if unknown:
            raise ValueError(f"view {self.name} has no filter {unknown[0]!r}; filters: {self.filters}")
        return tuple(values.get(name) for name in self.filters)


@dataclass(frozen=True, kw_only=True)
class Page(Generic[T]):
    """A page of documents, newest first; `next_cursor` is None on the last page."""

    items: tuple[T, ...]
    next_cursor: str | None


def sort_time(when: datetime) -> str:
    """A time as sort text: fixed width, UTC, so text order is time order."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def encode_cursor(sort: str, key: str) -> str:
    """An opaque cursor pointing just after (sort, key) in newest-first order."""
    return base64.urlsafe_b64encode(f"{sort}|{key}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    """The (sort, key) a cursor points after; ValidationError('cursor') if malformed."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        sort, key = raw.split("|", 1)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError("cursor", "is not a cursor this service returned") from exc
    if not _is_sort_time(sort):
        raise ValidationError("cursor", "is not a cursor this service returned")
    return sort, key


def _is_sort_time(text: str) -> bool:
    try:
        datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        return False
    return True


def page_of(rows: list[T], view: View[T], limit: int) -> Page[T]:
    """A page from `limit + 1` rows in list order: the extra row only says there is more."""
    items = tuple(rows[:limit])
    more = len(rows) > limit
    last = items[-1] if items else None
    cursor = encode_cursor(view.sort(last), view.key(last)) if more and last is not None else None
    return Page(items=items, next_cursor=cursor)
