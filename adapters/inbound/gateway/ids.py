"""Request and correlation ids: `X-Request-Id` (the caller's, when it is a sane token, else a
new one) and W3C `traceparent` (the caller's trace id kept, a new span id for the hop to the
upstream). The trace id is the correlation id every log line of one request carries."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

REQUEST_ID = "X-Request-Id"
TRACEPARENT = "traceparent"
_SANE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16


@dataclass(frozen=True)
class Ids:
    request_id: str
    trace_id: str
    span_id: str
    flags: str = "01"

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


def ids_for(request_id: str | None, traceparent: str | None) -> Ids:
    """The ids of one request through the gateway, from what the caller sent (or nothing)."""
    rid = request_id if request_id is not None and _SANE_ID.fullmatch(request_id) else secrets.token_hex(16)
    found = _TRACEPARENT.fullmatch(traceparent.strip().lower()) if traceparent else None
    if found and found.group(1) != _ZERO_TRACE and found.group(2) != _ZERO_SPAN:
        return Ids(rid, found.group(1), secrets.token_hex(8), found.group(3))
    return Ids(rid, secrets.token_hex(16), secrets.token_hex(8))
