"""Ports for operating resilience: circuit breakers and injected faults (inbound), and where forced
breaker states are kept across restarts (outbound).

Documents are JSON-shaped dicts (a breaker's snapshot, a fault setting), the same in this process
and over HTTP, because the types behind them belong to the runtime, which ports do not name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class Resilience(Protocol):
    """What an operator does to breakers and faults (dashboard, CLI, admin API).

    Contract:
    - `breakers()` lists every breaker of the process as a snapshot document: name, state,
      would_be, reason, failure_rate, slow_call_rate, calls, in_flight, recent, opened_at,
      next_probe_at, config.
    - `force_open`, `force_closed`, `metrics_only`, `reset(name, reason)` change one breaker and return
      its snapshot; NotFound for an unknown name; a forced state (forced-open, forced-closed,
      metrics-only) is kept across restarts; `reset` clears it. `reconfigure(name, config)` changes
      its thresholds keeping its window and state; a bad config raises ValidationError naming the field.
    - `faults()` gives the fault setting of each service that has one; `set_fault(service, settings)`
      sets one (DomainError when fault injection is off; ValidationError for a bad value) and returns it;
      `clear_fault(service)` removes it.
    """

    def breakers(self) -> list[dict[str, Any]]: ...

    def force_open(self, name: str, reason: str) -> dict[str, Any]: ...

    def force_closed(self, name: str, reason: str) -> dict[str, Any]: ...

    def metrics_only(self, name: str, reason: str) -> dict[str, Any]: ...

    def reset(self, name: str, reason: str) -> dict[str, Any]: ...

    def reconfigure(self, name: str, config: Mapping[str, Any]) -> dict[str, Any]: ...

    def faults(self) -> dict[str, dict[str, Any]]: ...

    def set_fault(self, service: str, settings: Mapping[str, Any]) -> dict[str, Any]: ...

    def clear_fault(self, service: str) -> None: ...


class ForcedStates(Protocol):
    """Where the breakers an operator forced are remembered.

    Contract: `save(forced)` replaces what is kept ({name: (state, reason)}) atomically: a crash
    leaves the old or the new, never a mix; `load()` returns the last saved, {} when none was.
    """

    def load(self) -> dict[str, tuple[str, str]]: ...

    def save(self, forced: Mapping[str, tuple[str, str]]) -> None: ...
