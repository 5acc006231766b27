"""A request's inputs: a JSON body whose every way of being unreadable becomes a 422 naming
`body`, header text read as the UTF-8 it was sent in, and query parameters the route does not
declare, refused like unknown body fields."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from core.kernel.errors import NotFound, ValidationError


async def read_json(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise ValidationError("body", "is required: a JSON object")
    try:
        return json.loads(raw)
    except RecursionError as exc:
        raise ValidationError("body", "is nested too deeply") from exc
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError alike
        raise ValidationError("body", f"is not valid JSON: {exc}") from exc


def header_text(value: str | None, name: str) -> str | None:
    """A header's value as the text the client sent, UTF-8 encoded. Starlette reads header bytes as
    latin-1, which accepts any byte: "café" would arrive as "cafÃ©" and the encoded form of a lone
    surrogate (ED A0 80) would pass as three letters. Bytes that are not UTF-8 are refused, naming
    the header."""
    if value is None:
        return None
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        raise ValidationError(f"header.{name}", "must be UTF-8 text") from None


_declared: dict[int, frozenset[str]] = {}


async def refuse_unknown_query(request: Request) -> None:
    """A dependency of routes that take query parameters: a misspelt one must not silently widen
    a filter, so it is refused like an unknown body field."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    allowed = _declared.get(id(route))
    if allowed is None:
        allowed = _declared[id(route)] = frozenset(_query_names(route.dependant))
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        known = ", ".join(sorted(allowed)) or "none"
        raise ValidationError(f"query.{unknown[0]}", f"unknown query parameter; allowed: {known}")


def _query_names(dependant: Dependant) -> set[str]:
    names = {field.alias for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def exists(read: Callable[[], object]) -> bool:
    """Whether `read` finds what it reads (False on NotFound): a write then answers 201 when it made
    the thing and 200 when it was there already."""
    try:
        read()
    except NotFound:
        return False
    return True
