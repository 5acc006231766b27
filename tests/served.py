"""A real `orderhex serve` process on a free loopback port, for the tests that need one."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.fixtures_kafka import SUBPROCESS_DEFAULTS

ORDERHEX = Path(sys.executable).with_name("orderhex")
STARTUP_SECONDS = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Serve:
    """One `orderhex serve` with in-memory stores unless `settings` say otherwise; its output
    (stderr and the access log) goes to a file. Starting again on the same `port` appends to it."""

    def __init__(self, data_dir: Path, settings: dict[str, Any] | None = None, port: int | None = None,
                 args: tuple[str, ...] = ()) -> None:
        """`args` go after `orderhex serve` (e.g. `--service inventory`)."""
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / f"serve-{self.port}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERHEX_")}
        settings = {"data_dir": data_dir, "api.port": self.port, "storage.adapter": "memory", "demo.seed": False,
                    "messaging.adapter": "memory", "relay.idle_ms": 20, **SUBPROCESS_DEFAULTS, **(settings or {})}
        env.update({"ORDERHEX_" + k.upper().replace(".", "__"): str(v) for k, v in settings.items()})
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([str(ORDERHEX), "serve", *args], env=env, stdout=log,
                                            stderr=subprocess.STDOUT)
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited with {self.process.returncode}: {self.output()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"serve did not answer /health within {STARTUP_SECONDS} s: {self.output()}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self, timeout: float = 20) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
