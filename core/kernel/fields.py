"""Reading a command's JSON fields so that every bad field is reported, not only the first, and
the bounds every string a command carries keeps.

Every context's wire module reads its commands with these, so a bad body gets the same kind of
answer whichever context and whichever door (CLI, REST, Kafka) it came through; every context's
commands check their strings with `check_texts` too, so a door that builds a command itself (the
CLI's cancel, the dashboard, a path parameter) is held to the same bounds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from core.kernel.errors import InvalidFields, ValidationError

T = TypeVar("T")

# The most characters an id, SKU, key, reason or other free string of a command may have. A
# command becomes events and outbox rows that a broker must take whole (Kafka refuses records over
# 1 MB by default): one unbounded field (a 10 MB customer id) would block the relay behind it.
MAX_TEXT_LENGTH = 200
# What no store keeps: a lone surrogate (U+D800..U+DFFF) cannot be encoded as UTF-8, which SQLite,
# PostgreSQL, the file store and the broker all write; PostgreSQL's text refuses NUL (U+0000).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class FieldErrors:
    """Collects the ValidationErrors of one body; `done()` raises them (one, or InvalidFields)."""

    def __init__(self) -> None:
        self.errors: list[ValidationError] = []

    def read(self, parse: Callable[[], T]) -> T:
        """The parsed value, or (after recording its error) a placeholder that `done()` discards."""
        try:
            return parse()
        except InvalidFields as exc:
            self.errors.extend(exc.errors)
        except ValidationError as exc:
            self.errors.append(exc)
        return None  # type: ignore[return-value]

    def add(self, field: str, message: str) -> None:
        self.errors.append(ValidationError(field, message))

    def done(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise InvalidFields(self.errors)


def json_object(data: Any, allowed: set[str], where: str = "body") -> Mapping[str, Any]:
    """`data` as a JSON object with no field outside `allowed` (every unknown one is named)."""
    if not isinstance(data, Mapping):
        raise ValidationError(where, f"must be a JSON object, got {type(data).__name__}")
    prefix = "" if where == "body" else f"{where}."
    unknown = sorted(set(data) - allowed)
    if unknown:
        listed = ", ".join(sorted(allowed))
        errors = [ValidationError(prefix + shown_name(str(name)), f"unknown field; allowed: {listed}")
                  for name in unknown]
        raise errors[0] if len(errors) == 1 else InvalidFields(errors)
    return data


def bounded_text(value: str, field: str, max_length: int = MAX_TEXT_LENGTH) -> str:
    """`value` unchanged if every store can keep it: at most `max_length` characters and
    `storable_text`. The message never echoes the value: it may be megabytes long."""
    if len(value) > max_length:
        raise ValidationError(field, f"must be at most {max_length} characters, got {len(value)}")
    return storable_text(value, field)


def storable_text(value: str, field: str) -> str:
    """`value` unchanged if it can be encoded as UTF-8 (no lone surrogate) and holds no NUL. The
    message names the character by its code point: the value itself cannot be printed in the JSON
    or log line that reports it."""
    bad = _UNSTORABLE.search(value)
    if bad is not None:
        why = "NUL, which no store keeps" if bad.group() == "\x00" else "a lone surrogate, which UTF-8 cannot encode"
        raise ValidationError(field, f"must be valid UTF-8 text: character {bad.start() + 1} is "
                                     f"U+{ord(bad.group()):04X}, {why}")
    return value


def required_string(value: Any, field: str, max_length: int = MAX_TEXT_LENGTH) -> str:
    """A non-empty string within `bounded_text`'s bounds."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "is required and must be a non-empty string")
    return bounded_text(value, field, max_length)


def check_texts(values: Iterable[tuple[str, object]], limits: Mapping[str, int] | None = None) -> None:
    """Every string among `values` (field name, value) within `bounded_text`'s bounds, the limit of
    a field being `limits[name]` when given, MAX_TEXT_LENGTH otherwise. Commands call it on
    construction; other types (numbers, None, nested lines) are left to their own checks."""
    for name, value in values:
        if isinstance(value, str):
            bounded_text(value, name, (limits or {}).get(name, MAX_TEXT_LENGTH))


def shown_name(name: str, limit: int = 60) -> str:
    """A field name a client sent, fit to be echoed in an error: cut to `limit` characters, with
    what cannot be encoded (a lone surrogate) escaped."""
    short = name if len(name) <= limit else name[:limit] + "..."
    return short.encode("utf-8", "backslashreplace").decode("utf-8")
