"""Passive ejection (outlier detection): an instance that answers `consecutive` 5xx or
connection failures in a row is taken out of rotation for `eject_seconds`, doubling each
time it is ejected again soon after, up to ten times. The active health checker needs a few
probe intervals to notice a dead instance; live traffic notices within a few requests.

Pure and single-threaded (the gateway's event loop owns it); time from an injected clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Outlier:
    failures: int = 0
    ejected_until: float = 0.0
    ejections: int = 0
    reason: str = ""


class Ejector:
    def __init__(self, monotonic: Callable[[], float], consecutive: int = 5, eject_seconds: float = 10.0) -> None:
        self._monotonic = monotonic
        self.consecutive = consecutive
        self.eject_seconds = eject_seconds
        self._outliers: dict[str, _Outlier] = {}

    def success(self, key: str) -> None:
        outlier = self._outliers.get(key)
        if outlier is not None:
            outlier.failures = 0

    def failure(self, key: str, reason: str) -> bool:
        """Count one failure; True when it ejects the instance now."""
        outlier = self._outliers.setdefault(key, _Outlier())
        outlier.failures += 1
        now = self._monotonic()
        if outlier.failures < self.consecutive or outlier.ejected_until > now:
            return False
        # Ejected again within twice its last ejection: it did not recover, so it stays out longer.
        recent = outlier.ejections and now - outlier.ejected_until < self.eject_seconds * 2 ** outlier.ejections
        outlier.ejections = min(outlier.ejections + 1, 10) if recent else 1
        outlier.ejected_until = now + self.eject_seconds * 2 ** (outlier.ejections - 1)
        outlier.failures = 0
        outlier.reason = f"{self.consecutive} failures in a row, the last: {reason}"
        return True

    def ejected(self, key: str) -> bool:
        outlier = self._outliers.get(key)
        return outlier is not None and outlier.ejected_until > self._monotonic()

    def reason(self, key: str) -> str:
        outlier = self._outliers.get(key)
        return outlier.reason if outlier is not None and self.ejected(key) else ""

    def retain(self, keys: set[str]) -> None:
        for key in [k for k in self._outliers if k not in keys]:
            del self._outliers[key]
