"""Which instance takes the next request: round robin, or least outstanding requests.

Pure and single-threaded (the gateway's event loop owns it). The caller passes the instances
that may take traffic now (healthy, not ejected, breaker closed) and tells the balancer when a
request to one starts and ends, so least-outstanding sees what is in flight.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.kernel.errors import ValidationError

BALANCES = ("round-robin", "least-outstanding")


class Balancer:
    def __init__(self, mode: str = "least-outstanding") -> None:
        if mode not in BALANCES:
            raise ValidationError("gateway.balance", f"{mode!r}: expected one of {', '.join(BALANCES)}")
        self.mode = mode
        self._outstanding: dict[str, int] = {}
        self._turn: dict[str, int] = {}

    def choose(self, service: str, candidates: Sequence[str]) -> str | None:
        """One of `candidates` (instance keys, in a stable order), or None when there are none.
        Least-outstanding breaks ties by round robin, so idle instances share the load."""
        if not candidates:
            return None
        turn = self._turn.get(service, 0)
        self._turn[service] = turn + 1
        rotated = [candidates[(turn + i) % len(candidates)] for i in range(len(candidates))]
        if self.mode == "round-robin":
            return rotated[0]
        return min(rotated, key=lambda key: self._outstanding.get(key, 0))

    def started(self, key: str) -> None:
        self._outstanding[key] = self._outstanding.get(key, 0) + 1

    def finished(self, key: str) -> None:
        left = self._outstanding.get(key, 0) - 1
        if left > 0:
            self._outstanding[key] = left
        else:
            self._outstanding.pop(key, None)

    def outstanding(self, key: str) -> int:
        return self._outstanding.get(key, 0)
