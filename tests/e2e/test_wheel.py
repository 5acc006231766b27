"""The wheel, as `pip install .` builds it, installed into a fresh virtual environment and run
from outside the repository: what a user gets, not what an editable install hides.

The wheel's dependencies come from a wheelhouse kept between runs (ORDERHEX_TEST_WHEELHOUSE, else
~/.cache/orderhex/test-wheelhouse): the install runs offline from it and fills it from the
package index only when something is missing, so a run costs about 15 s instead of a full
download.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import termios
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "ports", "adapters", "tui")
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
NOT_SOURCES = shutil.ignore_patterns(".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__", ".*_cache",
                                     ".hypothesis")
ANSI = re.compile(rb"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|[@-Z\\-_])")


def _wheelhouse() -> Path:
    named = os.environ.get("ORDERHEX_TEST_WHEELHOUSE")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(named) if named else cache / "orderhex" / "test-wheelhouse"


def _run(argv: list[str | Path], **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=300, check=False,
                          **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{argv}: {done.stdout}\n{done.stderr}"
    return done


@dataclass(frozen=True)
class Installed:
    wheel: Path
    bin: Path
    home: Path  # an empty working directory and HOME, outside the repository
    env: dict[str, str]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCES)  # a clean tree: no build/ or egg-info of an earlier build
    _run([*PIP, "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir", work / "dist", source])
    [wheel] = (work / "dist").glob("orderhex-*.whl")

    venv = work / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv])  # its own site-packages, nothing of ours
    wheelhouse = _wheelhouse()
    install = [*PIP, "--python", venv / "bin" / "python", "install", "--quiet", "--no-index", "--find-links",
               wheelhouse, wheel]
    if subprocess.run([str(a) for a in install], capture_output=True, timeout=300, check=False).returncode != 0:
        _run([*PIP, "download", "--quiet", "--dest", wheelhouse, wheel])
        (wheelhouse / wheel.name).unlink(missing_ok=True)  # keep only the dependencies there
        _run(install)

    home = work / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORDERHEX_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(HOME=str(home), PATH=f"{venv / 'bin'}:/usr/bin:/bin", ORDERHEX_DATA_DIR=str(home / "data"))
    yield Installed(wheel, venv / "bin", home, env)


def test_the_wheel_holds_every_file_the_packages_hold(installed: Installed) -> None:
    # Non-Python files too (the dashboard's stylesheet once was missing: StylesheetError on start).
    expected = {str(p.relative_to(ROOT)) for package in PACKAGES for p in (ROOT / package).rglob("*")
                if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
    assert expected - names == set()
    assert "bootstrap.py" in names and "tui/dashboard.tcss" in names
    assert {n.split("/")[0] for n in names if ".dist-info/" not in n} == {*PACKAGES, "bootstrap.py"}  # no tests


def test_the_installed_command_runs_its_own_code_from_anywhere(installed: Installed) -> None:
    where = _run([installed.bin / "python", "-c", "import bootstrap, tui; print(bootstrap.__file__, tui.__file__)"],
                 cwd=installed.home, env=installed.env).stdout.split()
    assert all(path.startswith(str(installed.bin.parent)) for path in where), where
    placed = _run([installed.bin / "orderhex", "place", "--customer", "c-1", "--item", "SKU-1:2:9.99"],
                  cwd=installed.home, env=installed.env).stdout.split()[1]  # SQLite: its migrations are shipped
    listed = _run([installed.bin / "orderhex", "orders"], cwd=installed.home, env=installed.env).stdout
    assert placed in listed and "19.98" in listed


def test_the_dashboard_starts_and_quits_on_q(installed: Installed) -> None:
    master, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 110, 0, 0))
    process = subprocess.Popen([str(installed.bin / "orderhex"), "dashboard"], stdin=terminal, stdout=terminal,
                               stderr=terminal, cwd=installed.home, env={**installed.env, "TERM": "xterm-256color"},
                               start_new_session=True)
    os.close(terminal)
    output = bytearray()

    def read(seconds: float) -> None:
        if select.select([master], [], [], seconds)[0]:
            try:
                output.extend(os.read(master, 65536))
            except OSError:  # the terminal closed: the process exited
                time.sleep(seconds)

    try:
        deadline = time.monotonic() + 60
        while b"5 Place order" not in ANSI.sub(b"", bytes(output)) and process.poll() is None:
            assert time.monotonic() < deadline, ANSI.sub(b"", bytes(output)).decode(errors="replace")
            read(0.2)
        os.write(master, b"q")
        while process.poll() is None and time.monotonic() < deadline:
            read(0.2)
        shown = ANSI.sub(b"", bytes(output)).decode(errors="replace")
        assert process.wait(10) == 0, shown
        # The header shortens a long path with "…": its start is enough to tell it is this one.
        assert f"data in {str(installed.home / 'data')[:24]}" in shown and "Traceback" not in shown
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        os.close(master)


def test_serve_answers_health_and_stops_on_sigterm(installed: Installed) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = installed.home / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen([str(installed.bin / "orderhex"), "serve", "--port", str(port)], stdout=out,
                                   stderr=subprocess.STDOUT, cwd=installed.home, env=installed.env)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
