"""What the HTTP benchmarks share (bench/gateway.py, bench/sidecar.py, bench/discovery.py): free
loopback ports, starting an `orderhex` subcommand with settings as ORDERHEX_* variables and
waiting for its /health, stopping it, the load average, and two load generators: closed-loop (C
aiohttp clients as fast as they go: throughput) and paced (requests due at a fixed rate: the
latency below saturation).

Not a benchmark itself: `make bench` skips bench/_*.py.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import httpx

ORDERHEX = Path(sys.executable).with_name("orderhex")
STARTUP_SECONDS = 30
WARM_REQUESTS = 50


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def load_average() -> tuple[float, float, float]:
    """`uptime`'s three figures (1, 5 and 15 minutes)."""
    one, five, fifteen = os.getloadavg()
    return round(one, 2), round(five, 2), round(fifteen, 2)


def environment(settings: Mapping[str, Any]) -> dict[str, str]:
    """This process's environment without its ORDERHEX_* variables, plus `settings` as ORDERHEX_*
    (nested keys joined with `__`): a benchmark's processes run on what it says, nothing inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERHEX_")}
    env.update({"ORDERHEX_" + k.upper().replace(".", "__"): str(v) for k, v in settings.items()})
    return env


def start(args: list[str], settings: Mapping[str, Any], url: str, log: Path,
          health_path: str = "/health") -> subprocess.Popen[bytes]:
    """`orderhex ARGS...` with its output appended to `log`, once `url + health_path` answers 200."""
    with log.open("ab") as out:
        process = subprocess.Popen([str(ORDERHEX), *args], env=environment(settings), stdout=out,
                                   stderr=subprocess.STDOUT)
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"orderhex {args[0]} exited {process.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url + health_path, timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    process.kill()
    raise SystemExit(f"orderhex {args[0]} did not answer {health_path} within {STARTUP_SECONDS} s; see {log}")


def stop(*processes: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM each one still running (in the order given), then wait for it."""
    for process in processes:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


async def load(url: str, path: str, headers: Mapping[str, str], requests: int, concurrency: int,
               tolerated: float = 0.0) -> dict[str, Any]:
    """`requests` GETs of `url + path` from `concurrency` clients, after 50 to warm the connections
    and the processes: requests/s, p50/p90/p99 in ms, and how many did not answer 200. More of
    those than the `tolerated` share of the requests ends the benchmark."""
    latencies: list[float] = []
    remaining = iter(range(requests))
    failures: list[str] = []

    async def client(session: aiohttp.ClientSession) -> None:
        for _ in remaining:
            began = time.perf_counter()
            async with session.get(url + path, headers=headers) as response:
                body = await response.read()
                if response.status != 200:
                    failures.append(f"{response.status} {body[:300].decode(errors='replace')}")
            latencies.append(time.perf_counter() - began)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(WARM_REQUESTS):
            async with session.get(url + path, headers=headers) as response:
                await response.read()
        began = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        took = time.perf_counter() - began
    if len(failures) > tolerated * requests:
        raise SystemExit(f"{len(failures)} of {requests} requests to {url} did not answer 200, like: {failures[0]}")
    cuts = statistics.quantiles(latencies, n=100)
    return {"per_s": round(requests / took, 1), "p50_ms": round(cuts[49] * 1000, 3),
            "p90_ms": round(cuts[89] * 1000, 3), "p99_ms": round(cuts[98] * 1000, 3), "non_200": len(failures),
            **({"first_failure": failures[0]} if failures else {})}


def run_load(url: str, path: str, headers: Mapping[str, str], requests: int, concurrency: int,
             tolerated: float = 0.0) -> dict[str, Any]:
    return asyncio.run(load(url, path, headers, requests, concurrency, tolerated))


async def paced(urls: Sequence[str], path: str, headers: Mapping[str, str], rate: float, seconds: float,
                tolerated: float = 0.0) -> list[dict[str, Any]]:
    """An open-loop load: GETs of `url + path` due at a fixed `rate` per URL for `seconds`, the URLs
    taking turns (so each path sees the same moments of the machine's load: on shared cores that
    matters more than anything else), each request timed from when it was due, not from when it
    was sent, so a stalled proxy cannot hide its queue (coordinated omission). Below saturation
    this is the latency a hop adds. Per URL, in order: requests/s achieved, p50/p90/p99 in ms, and
    how many did not answer 200 (more than the `tolerated` share ends the benchmark)."""
    per_url = max(1, int(rate * seconds))
    latencies: list[list[float]] = [[] for _ in urls]
    failures: list[list[str]] = [[] for _ in urls]
    loop = asyncio.get_running_loop()

    async def one(session: aiohttp.ClientSession, which: int, due: float) -> None:
        if (delay := due - loop.time()) > 0:
            await asyncio.sleep(delay)
        async with session.get(urls[which] + path, headers=headers) as response:
            body = await response.read()
            if response.status != 200:
                failures[which].append(f"{response.status} {body[:300].decode(errors='replace')}")
        latencies[which].append(loop.time() - due)

    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:
        for url in urls:
            for _ in range(WARM_REQUESTS):
                async with session.get(url + path, headers=headers) as response:
                    await response.read()
        first, step = loop.time() + 0.05, 1 / (rate * len(urls))
        await asyncio.gather(*(one(session, i % len(urls), first + i * step) for i in range(per_url * len(urls))))
        took = loop.time() - first
    results: list[dict[str, Any]] = []
    for url, timed, failed in zip(urls, latencies, failures, strict=True):
        if len(failed) > tolerated * per_url:
            raise SystemExit(f"{len(failed)} of {per_url} requests to {url} did not answer 200, like: {failed[0]}")
        cuts = statistics.quantiles(timed, n=100)
        results.append({"rate": rate, "per_s": round(per_url / took, 1), "p50_ms": round(cuts[49] * 1000, 3),
                        "p90_ms": round(cuts[89] * 1000, 3), "p99_ms": round(cuts[98] * 1000, 3),
                        "non_200": len(failed), **({"first_failure": failed[0]} if failed else {})})
    return results


def run_paced(urls: Sequence[str], path: str, headers: Mapping[str, str], rate: float, seconds: float,
              tolerated: float = 0.0) -> list[dict[str, Any]]:
    return asyncio.run(paced(urls, path, headers, rate, seconds, tolerated))
