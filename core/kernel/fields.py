"""Reading a command's JSON fields so that every bad field is reported, not only the first.

Every context's wire module reads its commands with these, so a bad body gets the same kind of
answer whichever context and whichever door (CLI, REST, Kafka) it came through.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from core.kernel.errors import InvalidFields, ValidationError

T = TypeVar("T")


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
        errors = [ValidationError(prefix + name, f"unknown field; allowed: {', '.join(sorted(allowed))}")
                  for name in unknown]
        raise errors[0] if len(errors) == 1 else InvalidFields(errors)
    return data


def required_string(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "is required and must be a non-empty string")
    return value
