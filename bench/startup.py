"""Start-up time of the `orderhex` console script, against a bare interpreter start.

Times, as wall clock from spawn to exit, `orderhex --help`, `orderhex orders` on the memory store
and `orderhex orders` on SQLite (the default store, schema already current), each the median of
N runs after a warm-up run. Baselines in the same conditions: `python -c pass` (the floor of
any Python command) and `python -c "import sqlalchemy"` (the floor of a command that reads SQLite
through SQLAlchemy). Target: 0.3 s for `--help` and `orders`. Results go to
bench/results/startup.json; the last lines are the headline figures.

    .venv/bin/python bench/startup.py [--runs N]

Where the time goes: `python -X importtime -c "import bootstrap; bootstrap.main(['orders'])"`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "startup.json"
ORDERHEX = Path(sys.executable).with_name("orderhex")
TARGET_SECONDS = 0.3


def wall_seconds(argv: list[str], env: dict[str, str], cwd: Path, runs: int) -> float:
    subprocess.run(argv, env=env, cwd=cwd, check=True, capture_output=True)  # warm-up: bytecode caches
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, env=env, cwd=cwd, check=True, capture_output=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="orderhex-bench-startup-") as tmp:
        cwd = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERHEX_")}
        env.update(HOME=tmp, ORDERHEX_DATA_DIR=str(cwd / "data"))
        memory = {**env, "ORDERHEX_STORAGE__ADAPTER": "memory"}
        sqlite = {**env, "ORDERHEX_STORAGE__ADAPTER": "sqlite"}
        timed = {
            "python_seconds": wall_seconds([sys.executable, "-c", "pass"], env, cwd, args.runs),
            "import_sqlalchemy_seconds": wall_seconds([sys.executable, "-c", "import sqlalchemy"], env, cwd,
                                                      args.runs),
            "help_seconds": wall_seconds([str(ORDERHEX), "--help"], env, cwd, args.runs),
            "orders_memory_seconds": wall_seconds([str(ORDERHEX), "orders"], memory, cwd, args.runs),
            "orders_seconds": wall_seconds([str(ORDERHEX), "orders"], sqlite, cwd, args.runs),
        }
    base = timed["python_seconds"]
    result = {
        "benchmark": "startup", "at": datetime.now(UTC).isoformat(), "machine": platform.platform(),
        "python": platform.python_version(), "runs": args.runs, "target_seconds": TARGET_SECONDS,
        **{key: round(value, 3) for key, value in timed.items()},
        **{f"ratio_{key.removesuffix('_seconds')}": round(value / base, 1) for key, value in timed.items()
           if key.startswith(("help", "orders"))},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"python -c pass: {base:.3f} s; python -c 'import sqlalchemy': {timed['import_sqlalchemy_seconds']:.3f} s")
    for key in ("help", "orders_memory", "orders"):
        print(f"{key}: {timed[key + '_seconds']:.3f} s, {timed[key + '_seconds'] / base:.1f} x a bare interpreter")
    print(f"-> {RESULTS}")
    print(f"startup.orders_memory_seconds = {timed['orders_memory_seconds']:.3f} (target {TARGET_SECONDS})")
    print(f"startup.help_seconds = {timed['help_seconds']:.3f} (target {TARGET_SECONDS})")
    print(f"startup.orders_seconds = {timed['orders_seconds']:.3f} (target {TARGET_SECONDS})")  # SQLite: the default


if __name__ == "__main__":
    main()
