"""The REST door of each service: injected faults act here on incoming calls, and a caller's
deadline (X-Deadline-Ms, the milliseconds it will wait) is honoured.

A request to a service's routes (/orders, /inventory, /payments, /shipping) first gets what the
service's fault setting decides: added latency, an error (503), a timeout (held, then 504), or a
dropped reply (handled, then held). Then, if the caller's deadline has passed meanwhile, the work
is refused with a 504 naming the service rather than done for nobody. The checkout's hops apply
the orders service's faults themselves (once per hop), so /checkout only has its deadline checked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.inbound.rest.problems import problem

DEADLINE_HEADER = b"x-deadline-ms"
SERVICES = ("orders", "inventory", "payments", "shipping")


def service_of(path: str) -> str | None:
    first = path.lstrip("/").partition("/")[0]
    return first if first in SERVICES else "checkout" if first == "checkout" else None


class ServiceDoor:
    """ASGI middleware. `decide(service)` returns the service's FaultDecision (fail, delay, timeout,
    drop_reply) or None when it has no fault; `hold_seconds` is how long a timeout or a dropped reply
    keeps the caller waiting (longer than any caller's timeout)."""

    def __init__(self, app: ASGIApp, decide: Callable[[str], Any], hold_seconds: float = 30.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.decide = decide
        self.hold_seconds = hold_seconds
        self.monotonic = monotonic

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        service = service_of(scope.get("path", "")) if scope["type"] == "http" else None
        if service is None:
            await self.app(scope, receive, send)
            return
        arrived = self.monotonic()
        raw = dict(scope.get("headers") or ()).get(DEADLINE_HEADER)
        budget_ms: float | None = None
        if raw is not None:
            if not raw.strip().isdigit():
                response = problem(422, f"X-Deadline-Ms must be a whole number of milliseconds, got {raw[:40]!r}",
                                   kind="validation", errors=[{"field": "header.X-Deadline-Ms",
                                                               "message": "must be a whole number of milliseconds"}])
                await response(scope, receive, send)
                return
            budget_ms = float(raw)
        decision = self.decide(service) if service != "checkout" else None
        drop = False
        if decision is not None:
            if decision.delay > 0:
                await asyncio.sleep(decision.delay)
            if decision.timeout:
                await asyncio.sleep(self.hold_seconds)
                await problem(504, f"{service} timed out (an injected fault)", kind="fault-timeout",
                              title="Timed out", service=service)(scope, receive, send)
                return
            if decision.fail:
                await problem(503, f"{service} failed (an injected fault)", kind="fault-injected",
                              service=service, headers={"Retry-After": "1"})(scope, receive, send)
                return
            drop = bool(decision.drop_reply)
        if budget_ms is not None:
            spent_ms = (self.monotonic() - arrived) * 1000
            if spent_ms >= budget_ms:
                await problem(504, f"{service} refused the call: its caller's deadline of {budget_ms:.0f} ms passed "
                                   f"before it could start ({spent_ms:.0f} ms in)", kind="deadline-exceeded",
                              title="Deadline exceeded", hop=service, service=service)(scope, receive, send)
                return
        if not drop:
            await self.app(scope, receive, send)
            return

        async def swallow(message: Message) -> None:
            return None

        await self.app(scope, receive, swallow)  # the work is done, the reply is lost
        await asyncio.sleep(self.hold_seconds)
        await problem(504, f"{service} dropped its reply (an injected fault)", kind="fault-dropped-reply",
                      title="Timed out", service=service)(scope, receive, send)
