"""The one-relay rule for stores without row locks (SQLite, files): an exclusive lock file.

The lock lies beside the store (the store's outbox names it), not in a process's data directory:
two processes with different data directories on one SQLite file or file store meet on it. The
operating system drops the lock when the holder dies, even by SIGKILL, so a crashed relay never
blocks its successor.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from core.kernel.errors import Unavailable
from ports.storage import Outbox


class RelayLock:
    def __init__(self, path: Path, store: str) -> None:
        self.path = path
        self._store = store
        self._handle: IO[str] | None = None

    @classmethod
    def beside(cls, outbox: Outbox, store: str) -> RelayLock | None:
        """The lock a relay of `outbox` must hold, or None where several relays may run."""
        path = outbox.relay_lock()
        return None if path is None else cls(Path(path), store)

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise Unavailable(
                f"the outbox relay for {self._store}",
                f"another relay (pid {holder}) already runs on it (lock {self.path})",
                "only one relay may run on SQLite and file stores; stop the other one, or use PostgreSQL "
                "to run several",
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
