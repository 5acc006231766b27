"""`orderhex up`'s supervisor on real processes: readiness, prefixed logs, a crash reported and not
restarted, and everything stopped on SIGTERM."""

from __future__ import annotations

import io
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

from adapters.inbound.up.procfile import ProcfileError, read_procfile
from adapters.inbound.up.supervisor import Supervisor

PY = sys.executable
# Answers GET /health with 200 on the port given, and prints a line when it starts.
SERVER = (
    "import http.server, sys\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        self.send_response(200 if self.path == '/health' else 404); self.end_headers()\n"
    "    def log_message(self, *a): pass\n"
    "print('listening', flush=True)\n"
    "http.server.HTTPServer(('127.0.0.1', int(sys.argv[sys.argv.index('--port') + 1])), H).serve_forever()\n"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def until(condition: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def procfile(tmp_path: Path, text: str) -> Path:
    (tmp_path / "server.py").write_text(SERVER)
    path = tmp_path / "Procfile"
    path.write_text(text)
    return path


def test_every_process_starts_is_reported_ready_and_logs_with_its_name(tmp_path: Path) -> None:
    port = free_port()
    path = procfile(tmp_path, f"# a comment\nweb: {PY} {tmp_path}/server.py --port {port} serve\n"
                              f"worker: {PY} -c \"print('working', flush=True); import time; time.sleep(60)\"\n")
    out = io.StringIO()
    supervisor = Supervisor(read_procfile(path), os.environ, out=out)
    supervisor.start()
    try:
        until(lambda: supervisor.ready() == {"web": True, "worker": True})
        until(lambda: "web    | listening" in out.getvalue() and "worker | working" in out.getvalue())
    finally:
        supervisor.stop()
    text = out.getvalue()
    assert "up     | web is ready" in text and "all processes are ready" in text
    assert "stopped: web (-15), worker (-15)" in text


def test_a_crashed_process_is_reported_and_not_restarted(tmp_path: Path) -> None:
    path = procfile(tmp_path, f"crash: {PY} -c \"print('bye', flush=True); raise SystemExit(3)\"\n"
                              f"steady: {PY} -c \"import time; time.sleep(60)\"\n")
    out = io.StringIO()
    supervisor = Supervisor(read_procfile(path), os.environ, out=out, stop_on_crash=True)
    supervisor.start()
    try:
        assert supervisor.watch() is True
    finally:
        supervisor.stop()
    text = out.getvalue()
    assert "crash exited with code 3; it is not restarted" in text
    assert text.count("started crash") == 1


def test_sigterm_stops_every_process_and_run_returns(tmp_path: Path) -> None:
    sleeper = f"{PY} -c \"import time; time.sleep(60)\""
    path = procfile(tmp_path, f"a: {sleeper}\nb: {sleeper}\n")
    out = io.StringIO()
    supervisor = Supervisor(read_procfile(path), os.environ, out=out, stop_timeout=5)
    result: list[int] = []
    # run() installs signal handlers, which only the main thread may do: signal it from a helper thread.
    threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGTERM)).start()
    result.append(supervisor.run())
    assert result == [0]
    assert "SIGTERM: stopping every process" in out.getvalue()
    assert "stopped: a (-15), b (-15)" in out.getvalue()


@pytest.mark.parametrize(("text", "message"), [("web npm start\n", "expected `name: command`"),
                                               ("a: x\na: y\n", "named twice"), ("# only\n", "names no process")])
def test_a_bad_procfile_is_refused_naming_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "Procfile"
    path.write_text(text)
    with pytest.raises(ProcfileError, match=message):
        read_procfile(path)
