"""Circuit breaker cost per guarded call on the success path, against pybreaker and circuitbreaker.

Every breaker guards the same trivial function, closed, one thread. Ours uses a count window of
100 calls (minimum 10), through `call()` and through `acquire()` + `Permit.success()`; pybreaker
1.4 (fail_max 5) through `call()`; circuitbreaker 2.1 through its decorator. The runs interleave in
chunks, so load from elsewhere on the machine hits all of them alike; each figure is the median
over chunks of every round, and the rounds' medians are kept. Headline: pybreaker's cost over
ours (target above 1.0). Results go to bench/results/breaker.json.

    .venv/bin/python bench/breaker.py [--rounds R] [--chunks C] [--calls N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import circuitbreaker
import pybreaker

from core.runtime.breaker import BreakerConfig, CircuitBreaker

RESULTS = Path(__file__).parent / "results" / "breaker.json"


def answer() -> int:
    return 1


def runners() -> dict[str, Callable[[int], None]]:
    ours = CircuitBreaker("bench", BreakerConfig(window="count", window_size=100, minimum_calls=10),
                          monotonic=time.monotonic, now=lambda: datetime.now(UTC))
    theirs = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=60)
    decorated = circuitbreaker.CircuitBreaker(failure_threshold=5, recovery_timeout=60)(answer)

    def ours_call(n: int) -> None:
        call = ours.call
        for _ in range(n):
            call(answer)

    def ours_permit(n: int) -> None:
        acquire = ours.acquire
        for _ in range(n):
            permit = acquire()
            answer()
            permit.success()

    def pybreaker_call(n: int) -> None:
        call = theirs.call
        for _ in range(n):
            call(answer)

    def circuitbreaker_call(n: int) -> None:
        for _ in range(n):
            decorated()

    def bare(n: int) -> None:
        for _ in range(n):
            answer()

    return {"ours_call": ours_call, "ours_permit": ours_permit, "pybreaker": pybreaker_call,
            "circuitbreaker": circuitbreaker_call, "bare": bare}


def one_round(chunks: int, calls: int) -> dict[str, float]:
    """Median µs per call of each runner over `chunks` interleaved chunks of `calls` calls."""
    runs = runners()
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():
        run(calls)  # warm up
    for _ in range(chunks):
        for name, run in runs.items():
            started = time.perf_counter()
            run(calls)
            samples[name].append((time.perf_counter() - started) / calls * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chunks", type=int, default=30)
    parser.add_argument("--calls", type=int, default=5000)
    args = parser.parse_args()

    load_before = os.getloadavg()
    rounds = [one_round(args.chunks, args.calls) for _ in range(args.rounds)]
    load_after = os.getloadavg()
    us = {name: statistics.median(r[name] for r in rounds) for name in rounds[0]}
    ratio = us["pybreaker"] / us["ours_call"]
    result = {
        "benchmark": "breaker", "at": datetime.now(UTC).isoformat(), "machine": platform.platform(),
        "python": platform.python_version(), "rounds": args.rounds, "chunks": args.chunks, "calls": args.calls,
        "load_average": {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in load_after]},
        "libraries": {"pybreaker": version("pybreaker"), "circuitbreaker": version("circuitbreaker")},
        "us_per_call": {name: round(value, 3) for name, value in us.items()},
        "rounds_us_per_call": [{name: round(value, 3) for name, value in r.items()} for r in rounds],
        "vs_pybreaker": round(ratio, 3), "vs_circuitbreaker": round(us["circuitbreaker"] / us["ours_call"], 3),
        "target_vs_pybreaker": 1.0,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    load = ", ".join(f"{x:.2f}" for x in load_before)
    print(f"success path, one thread, closed, µs per guarded call (median of {args.rounds} rounds; "
          f"load average {load}):")
    for name, label in (("ours_call", "ours, call() (count window 100)"),
                        ("ours_permit", "ours, acquire() + Permit.success()"),
                        ("pybreaker", f"pybreaker {version('pybreaker')}, call()"),
                        ("circuitbreaker", f"circuitbreaker {version('circuitbreaker')}, decorator"),
                        ("bare", "bare call, no breaker")):
        print(f"  {label:45} {us[name]:6.3f}")
    print("circuitbreaker counts consecutive failures only: no window, no lock, no slow calls, no probe lease")
    print(f"-> {RESULTS}")
    print(f"breaker.us_per_call = {us['ours_call']:.3f} (target <{us['pybreaker']:.3f}>)")
    print(f"breaker.vs_pybreaker = {ratio:.2f} (target 1.0)")


if __name__ == "__main__":
    main()
