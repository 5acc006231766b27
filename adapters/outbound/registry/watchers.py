"""The callbacks of a registry's watches: added, removed, and told of a change one at a time."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ports.registry import RegistryChange

log = logging.getLogger("orderhex.registry")

Callback = Callable[[RegistryChange], None]


class Watchers:
    """Thread-safe set of callbacks. `notify` calls each in the order they were added; one that
    raises is logged and the others still run (a broken dashboard must not stop a gateway)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callbacks: dict[int, Callback] = {}
        self._next = 0
        # One change at a time, in order, even when two threads change the registry at once.
        self._delivery = threading.Lock()

    def add(self, callback: Callback) -> Callable[[], None]:
        with self._lock:
            token, self._next = self._next, self._next + 1
            self._callbacks[token] = callback

        def remove() -> None:
            with self._lock:
                self._callbacks.pop(token, None)

        return remove

    def __bool__(self) -> bool:
        with self._lock:
            return bool(self._callbacks)

    def notify(self, changes: list[RegistryChange]) -> None:
        with self._delivery:
            for change in changes:
                with self._lock:
                    callbacks = list(self._callbacks.values())
                for callback in callbacks:
                    try:
                        callback(change)
                    except Exception:
                        log.exception("a registry watch callback failed on %s %s", change.kind, change.record.key)

    def clear(self) -> None:
        with self._lock:
            self._callbacks.clear()
