"""The writer lock: one process at a time appends to a store directory.

`flock` rather than a pid file: the kernel drops the lock when its holder dies, even by kill -9,
so a crashed writer never leaves a stale lock behind. The file's text names the holder so the
process kept out can say who to stop.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path


class WriterLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self, patience: float = 0.0) -> bool:
        """Take the lock if no other open file (in any process) holds it, trying for up to
        `patience` seconds (a reader's probe holds it for an instant)."""
        if self._fd is not None:
            return True
        fd = self._lock(patience)
        if fd is None:
            return False
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": datetime.now(UTC).isoformat(),
                  "command": " ".join(sys.argv)[:200]}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        self._fd = fd
        return True

    def while_free(self, check: Callable[[], bool]) -> bool:
        """Run `check` while briefly holding the lock, so no writer can act meanwhile; False if
        a writer holds it. The holder text is left alone: this process is not writing."""
        if self._fd is not None:
            return check()
        fd = self._lock(0.0)
        if fd is None:
            return False
        try:
            return check()
        finally:
            os.close(fd)

    def _lock(self, patience: float) -> int | None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + patience
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return None
                time.sleep(0.005)

    def holder(self) -> str:
        """Who holds the lock, as its holder wrote it down."""
        try:
            holder = json.loads(self.path.read_text())
            return f"pid {holder['pid']} on {holder['host']} ({holder['command']}, since {holder['since']})"
        except (OSError, ValueError, KeyError, TypeError):
            return "a process that has not written its pid yet"

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
