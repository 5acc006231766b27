"""Forced breaker states in a small JSON file in the data directory, replaced atomically."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from core.kernel.errors import Unavailable


class FileForcedStates:
    """`{"version": 1, "forced": {name: {"state": ..., "reason": ...}}}` at `path`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, tuple[str, str]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise Unavailable(f"forced breaker states in {self.path}", f"unreadable: {exc}",
                              "fix or delete the file (every breaker then starts closed)") from exc
        return {name: (str(entry["state"]), str(entry.get("reason", "")))
                for name, entry in data.get("forced", {}).items()}

    def save(self, forced: Mapping[str, tuple[str, str]]) -> None:
        body = {"version": 1, "forced": {name: {"state": state, "reason": reason}
                                         for name, (state, reason) in sorted(forced.items())}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=self.path.name, suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(body, out, indent=2)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a power cut
        finally:
            os.close(directory)

