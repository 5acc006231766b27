"""A small process supervisor: start every process, prefix its output, report readiness and
crashes, and stop everything on SIGINT/SIGTERM.

A crashed process is reported, with its exit code, and not restarted: restarting hides the
failure a person running the topology wants to see. The others keep running until the person
stops them (or `stop_on_crash` is set, as tests do).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TextIO

from adapters.inbound.up.procfile import Process

READY_TIMEOUT = 60.0
COLOURS = ("36", "33", "35", "32", "34", "31", "96", "93")


@dataclass
class Running:
    process: Process
    popen: subprocess.Popen[bytes]
    colour: str
    ready: bool = False
    reader: threading.Thread | None = None
    exit_code: int | None = field(default=None)


class Supervisor:
    def __init__(self, processes: list[Process], env: Mapping[str, str], *, out: TextIO | None = None,
                 stop_timeout: float = 20.0, stop_on_crash: bool = False) -> None:
        self._processes = processes
        self._env = dict(env)
        self._out = out or sys.stdout
        self._stop_timeout = stop_timeout
        self._stop_on_crash = stop_on_crash
        self._running: list[Running] = []
        self._write_lock = threading.Lock()
        self._width = max(len(p.name) for p in processes)
        self.stopping = threading.Event()

    def run(self) -> int:
        """Start everything, wait for a signal (or, with stop_on_crash, a crash), stop everything.
        Returns 0 when stopped on request with no crash, else 1."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.start()
            crashed = self.watch()
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 1 if crashed else 0

    def start(self) -> None:
        for n, process in enumerate(self._processes):
            popen = subprocess.Popen(process.argv(self._env), env=process.environ(self._env), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)
            running = Running(process, popen, COLOURS[n % len(COLOURS)])
            running.reader = threading.Thread(target=self._pump, args=(running,), daemon=True)
            running.reader.start()
            self._running.append(running)
            self.say("up", f"started {process.name} (pid {popen.pid}): {process.command}")
        threading.Thread(target=self._await_readiness, daemon=True).start()

    def watch(self) -> bool:
        """Until asked to stop: report each process that exits. True if any crashed."""
        crashed = False
        while not self.stopping.wait(0.2):
            for running in self._running:
                if running.exit_code is None and (code := running.popen.poll()) is not None:
                    running.exit_code = code
                    crashed = True
                    self.say("up", f"{running.process.name} exited with code {code}; it is not restarted "
                                   f"(its last lines are above); the others keep running, Ctrl-C stops them")
                    if self._stop_on_crash:
                        self.stopping.set()
        return crashed

    def stop(self) -> None:
        self.stopping.set()
        alive = [r for r in self._running if r.popen.poll() is None]
        for running in alive:
            _signal_group(running.popen, signal.SIGTERM)
        deadline = time.monotonic() + self._stop_timeout
        for running in alive:
            try:
                running.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say("up", f"{running.process.name} did not stop within {self._stop_timeout:.0f} s: killed")
                _signal_group(running.popen, signal.SIGKILL)
                running.popen.wait(5)
        for running in self._running:
            if running.reader is not None:
                running.reader.join(2)
        self.say("up", "stopped: " + ", ".join(f"{r.process.name} ({r.popen.returncode})" for r in self._running))

    def ready(self) -> dict[str, bool]:
        return {r.process.name: r.ready for r in self._running}

    def say(self, name: str, text: str, colour: str = "1") -> None:
        prefix = name.ljust(self._width)
        tty = getattr(self._out, "isatty", lambda: False)()
        head = f"\x1b[{colour}m{prefix} |\x1b[0m" if tty else f"{prefix} |"
        with self._write_lock:
            self._out.write(f"{head} {text}\n")
            self._out.flush()

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.say("up", f"{signal.Signals(signum).name}: stopping every process")
        self.stopping.set()

    def _pump(self, running: Running) -> None:
        assert running.popen.stdout is not None
        for raw in iter(running.popen.stdout.readline, b""):
            self.say(running.process.name, raw.decode(errors="replace").rstrip("\n"), running.colour)

    def _await_readiness(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        waiting = list(self._running)
        while waiting and not self.stopping.is_set() and time.monotonic() < deadline:
            for running in list(waiting):
                if running.popen.poll() is not None:
                    waiting.remove(running)
                elif _answers(running.process, self._env):
                    waiting.remove(running)
                    self.say("up", f"{running.process.name} is ready")
                    if not waiting and all(r.ready or r is running for r in self._running):
                        self.say("up", "all processes are ready; Ctrl-C stops them")
                    running.ready = True  # last, so whoever polls ready() has seen the lines above
            time.sleep(0.2)
        for running in waiting:
            if not self.stopping.is_set():
                self.say("up", f"{running.process.name} is not ready after {READY_TIMEOUT:.0f} s")


def _answers(process: Process, env: Mapping[str, str]) -> bool:
    port = process.port(env)
    if port is None:
        return True  # nothing to ask: running is all it can say
    if process.http:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=0.5) as response:
                return bool(response.status == 200)
        except OSError:
            return False
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _signal_group(popen: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        os.killpg(popen.pid, sig)
    except ProcessLookupError:
        return
