"""Reading a JSON request body: every way a body can be unreadable becomes a 422 naming `body`."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from core.errors import ValidationError


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
