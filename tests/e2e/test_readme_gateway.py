"""The README's gateway walk-through ("The gateway: kill an instance and watch it route around"),
its commands parsed from the section and run as written, each checked against what its comment
says it shows. Only the ports differ: every process gets a free one instead of :8080, :9003...
(the README's numbers are replaced in the lines), and PID is the pid `registry list` printed."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.served import ORDERHEX, free_port

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
SECTION = "The gateway: kill an instance and watch it route around"
WRITTEN = ".venv/bin/orderhex"
SERVICES = ("orders", "inventory", "payments", "shipping")
TTL = 5  # registry.ttl_seconds, the default the README names
MARGIN = 2.5


def walkthrough() -> list[str]:
    """The section's shell lines, their trailing comments dropped."""
    section = README.split(f"\n## {SECTION}\n", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    return [re.sub(r"\s+#\s.*$", "", line) for line in block.splitlines() if line.strip()]


def test_the_readme_walks_through_up_a_call_the_instances_and_a_kill() -> None:
    lines = walkthrough()
    assert lines[0].startswith("export ORDERHEX_GATEWAY__API_KEY=")
    assert lines[1] == f"{WRITTEN} up --instances payments=2"
    assert any("/gateway/upstreams" in line for line in lines)
    assert any(line.endswith(f"{WRITTEN} registry list") for line in lines)
    assert "kill -9 PID" in lines


class Ports:
    """A free port for each of the Procfile's, and the README's numbers mapped to them."""

    def __init__(self) -> None:
        self.env = {f"{s.upper()}_PORT": free_port() for s in SERVICES}
        self.env |= {f"{s.upper()}_SIDECAR_PORT": free_port() for s in SERVICES}
        self.env["GATEWAY_PORT"] = free_port()
        sidecar = self.env["PAYMENTS_SIDECAR_PORT"]
        self.gateway = f"http://127.0.0.1:{self.env['GATEWAY_PORT']}"
        self.written = {"localhost:8080": f"127.0.0.1:{self.env['GATEWAY_PORT']}",
                        "127.0.0.1:9103": f"127.0.0.1:{sidecar + 100}", "127.0.0.1:9003": f"127.0.0.1:{sidecar}"}
        self.second = f"127.0.0.1:{sidecar + 100}"

    def apply(self, line: str) -> str:
        for written, real in self.written.items():
            line = line.replace(written, real)
        return line.replace(WRITTEN, str(ORDERHEX))


def _shell(line: str, env: dict[str, str]) -> str:
    done = subprocess.run(["bash", "-c", line], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, f"{line}: {done.stderr}"
    return done.stdout


def _wait_ready(up: subprocess.Popen[bytes], ports: Ports, key: str, log_path: Path) -> None:
    """Until the gateway is ready and sees both payments instances up ("all processes are ready"
    says the processes answer; the gateway's health checks follow within a probe or two)."""
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        assert up.poll() is None, log_path.read_text()[-4000:]
        try:
            if httpx.get(f"{ports.gateway}/ready", timeout=5).status_code == 200:
                body = httpx.get(f"{ports.gateway}/gateway/upstreams", headers={"X-API-Key": key}, timeout=5).json()
                if [i["health"] for i in body["services"].get("payments", [])] == ["up", "up"]:
                    return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"the gateway never saw both payments instances up\n{log_path.read_text()[-4000:]}")


@pytest.mark.slow
@pytest.mark.etcd
@pytest.mark.kafka
@pytest.mark.timeout(400)
def test_the_gateway_walkthrough_runs_as_written(tmp_path: Path) -> None:
    lines = walkthrough()
    ports = Ports()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERHEX_")}
    env |= {k: str(v) for k, v in ports.env.items()}
    env |= {"ORDERHEX_DATA_DIR": str(tmp_path), "ORDERHEX_MESSAGING__SESSION_TIMEOUT_MS": "6000",
            "ORDERHEX_MESSAGING__HEARTBEAT_INTERVAL_MS": "500"}
    log_path = tmp_path / "up.log"
    up: subprocess.Popen[bytes] | None = None
    key, pid = "", 0
    try:
        for line in lines:
            if line.startswith("export "):
                name, _, value = shlex.split(line)[1].partition("=")
                env[name] = value
                key = value.split("=")[1]
                continue
            if line.startswith(f"{WRITTEN} up "):
                with log_path.open("wb") as log:
                    up = subprocess.Popen(shlex.split(ports.apply(line)), env=env, cwd=ROOT, stdout=log,
                                          stderr=subprocess.STDOUT)
                _wait_ready(up, ports, key, log_path)
                continue
            if line == "kill -9 PID":
                assert pid, "registry list named no pid for the second payments instance"
                _shell(f"kill -9 {pid}", env)
                killed = time.monotonic()
                continue
            out = _shell(ports.apply(line), env)
            if line.startswith("curl -i") and "X-API-Key" in line:
                assert out.startswith("HTTP/1.1 200"), out
                assert re.search(r"(?im)^x-served-by: payments/127\.0\.0\.1:", out), out
            elif line.startswith("curl -i"):
                assert out.startswith("HTTP/1.1 401"), out
                assert re.search(r"(?im)^x-gateway-error: unauthorized", out), out
                assert re.search(r"(?im)^content-type: application/problem\+json", out), out
            elif "/gateway/upstreams" in line and not pid:
                payments = json.loads(out)["services"]["payments"]
                assert len(payments) == 2 and {i["health"] for i in payments} == {"up"}, payments
            elif line.endswith("registry list"):
                listed = [row for row in out.splitlines() if row.split()[:1] == ["payments"]]
                assert len(listed) == 2, out
                [second] = [row for row in listed if ports.second in row]
                pid = int(second.split("pid ")[1].split()[0])
            elif line.startswith("for "):
                assert out.split() == ["200"] * 20, out
            elif "/gateway/upstreams" in line:
                _drops_out(ports.apply(line), env, ports.second, killed)
    finally:
        if up is not None:
            up.send_signal(signal.SIGTERM)
            up.wait(90)
    assert "payments-sidecar.2 exited with code -9" in log_path.read_text(errors="replace")


def _drops_out(line: str, env: dict[str, str], second: str, killed: float) -> None:
    """The killed instance is down or ejected at once, and gone from the list within the lease."""
    first = True
    while True:
        payments = {i["instance_id"]: i for i in json.loads(_shell(line, env))["services"].get("payments", [])}
        if second not in payments:
            break
        if first:
            assert payments[second]["health"] == "down" or payments[second]["ejected"], payments[second]
            first = False
        # The lease ends at most TTL after the kill; etcd notices within 500 ms and the gateway's
        # watch within a refresh: a loaded machine adds a little.
        assert time.monotonic() - killed < TTL + MARGIN, f"{second} listed {TTL + MARGIN} s after the kill: {payments}"
        time.sleep(0.25)
    print(f"\nreadme gateway walk-through: {second} gone from the gateway's list {time.monotonic() - killed:.1f} s "
          f"after kill -9 (lease {TTL} s)")
