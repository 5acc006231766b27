"""Reading the structured log lines of a real orderhex process (JSON, one object per line)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

Line = dict[str, Any]


def parse(text: str) -> list[Line]:
    """Every non-empty line as JSON: a line that is not a JSON object fails the test, naming it."""
    lines = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except ValueError:
            raise AssertionError(f"not a JSON log line: {raw!r}") from None
        assert isinstance(line, dict), raw
        assert {"time", "level", "logger", "message"} <= line.keys(), raw
        lines.append(line)
    return lines


class PipeLog:
    """Collects a process's stderr (a text pipe) line by line in a thread."""

    def __init__(self, stream: IO[str]) -> None:
        self.raw: list[str] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for raw in stream:
            with self._lock:
                self.raw.append(raw)

    def text(self) -> str:
        with self._lock:
            return "".join(self.raw)

    def lines(self) -> list[Line]:
        return parse(self.text())

    def wait_for(self, predicate: Callable[[Line], bool], timeout: float = 60.0, what: str = "a log line") -> Line:
        return wait_for(self.text, predicate, timeout, what)

    def close(self) -> None:
        self._thread.join(10)


class FileLog:
    """A process's output file (tests/served.py writes serve's there)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def text(self) -> str:
        return self.path.read_text(errors="replace")

    def lines(self) -> list[Line]:
        return parse(self.text())

    def wait_for(self, predicate: Callable[[Line], bool], timeout: float = 60.0, what: str = "a log line") -> Line:
        return wait_for(self.text, predicate, timeout, what)


def wait_for(text: Callable[[], str], predicate: Callable[[Line], bool], timeout: float, what: str) -> Line:
    deadline = time.monotonic() + timeout
    while True:
        # Only complete lines: the last one may be half written.
        complete = text().rpartition("\n")[0]
        for line in parse(complete):
            if predicate(line):
                return line
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout:g} s; the log:\n{complete[-4000:]}")
        time.sleep(0.05)


def message(prefix: str, logger: str | None = None) -> Callable[[Line], bool]:
    """A predicate: the line's message starts with `prefix` (and it came from `logger`)."""
    return lambda line: str(line["message"]).startswith(prefix) and (logger is None or line["logger"] == logger)
