"""Concurrent writers placing orders on SQLite: orderhex (through the commit queue) against raw
sqlite3 writing the same rows, one transaction per order.

Each run places `--orders` orders from 1, 4 and 16 threads at once through `Application.bus` (the
real handler, unit of work, outbox, summary, saga start) on a fresh SQLite store, and reports
throughput and per-order latency (p50, p99: from the call to its return, commit included).

The baseline writes exactly orderhex's rows: the statements and parameters of one orderhex
order are recorded on its driver (aggregate, saga, history, timers, outbox rows, summary,
projection position, in one transaction), and replayed with raw sqlite3 for every order with
fresh ids, on the same migrated schema and pragmas, one `BEGIN IMMEDIATE ... COMMIT` per order,
each thread on its own connection: what concurrent writers cost without a queue. Also shown:
orderhex with the queue taken out (its committer in place of the queue), the single writer's
cost of the queue (as a ratio, and per write over a store that writes nothing, which the
machine's noise does not drown), and how many units each transaction carried.

Each figure is the median of `--rounds` interleaved rounds; the load average is printed beside.
Results go to bench/results/writers.json; the last lines are the headline figures.

    .venv/bin/python bench/writers.py [--orders N] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _same_rows import Statement, command, open_app, record_one_order, with_fresh_ids

from core.runtime.commit_queue import CommitQueue

RESULTS = Path(__file__).parent / "results" / "writers.json"
WRITERS = (1, 4, 16)
PATIENCE_S = 600


def concurrently(writers: int, orders: int, place: Callable[[int], None]) -> dict[str, float]:
    """`orders` placements spread over `writers` threads started together: throughput, p50, p99."""
    latencies: list[list[float]] = [[] for _ in range(writers)]
    start = threading.Barrier(writers + 1, timeout=PATIENCE_S)

    def writer(index: int) -> None:
        mine = latencies[index]
        start.wait()
        for number in range(index, orders, writers):
            began = time.perf_counter()
            place(number)
            mine.append(time.perf_counter() - began)

    threads = [threading.Thread(target=writer, args=(index,)) for index in range(writers)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join(PATIENCE_S)
    elapsed = time.perf_counter() - began
    every = sorted(latency for mine in latencies for latency in mine)
    assert len(every) == orders, f"{orders - len(every)} placements failed"
    return {"per_s": orders / elapsed, "p50_ms": every[len(every) // 2] * 1000,
            "p99_ms": every[min(len(every) - 1, int(len(every) * 0.99))] * 1000}


def orderhex(data_dir: Path, writers: int, orders: int, *, queue: bool = True) -> dict[str, float]:
    app = open_app(data_dir)
    storage = app.switchboard.get("orders.storage")  # the store itself, behind the live slot
    committer = storage.committer
    assert isinstance(committer, CommitQueue)
    if not queue:
        storage.committer = committer.store  # every unit of work takes the store's committer anew
    try:
        for number in range(50):  # warm-up: connections, statement caches
            app.bus.handle(command(number))
        batches, units = committer.batches, committer.units
        figures = concurrently(writers, orders, lambda number: app.bus.handle(command(number)))
        assert storage.outbox.pending_count() >= orders + 50
        if queue:
            figures["units_per_transaction"] = (committer.units - units) / max(1, committer.batches - batches)
    finally:
        app.close()
    return figures


# -- the raw baseline: orderhex's statements for one order, replayed with fresh ids (bench/_same_rows.py)


def raw(path: Path, template: list[Statement], writers: int, orders: int) -> dict[str, float]:
    # Parameters built before the clock starts: the baseline pays only for its statements.
    work = [with_fresh_ids(template, number + 1000) for number in range(orders)]
    local = threading.local()
    connections: list[sqlite3.Connection] = []
    lock = threading.Lock()

    def place(number: int) -> None:
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = local.connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=5000", "foreign_keys=ON"):
                connection.execute(f"PRAGMA {pragma}")
            with lock:
                connections.append(connection)
        for sql, params in work[number]:
            connection.execute(sql, params)
        connection.execute("COMMIT")

    try:
        return concurrently(writers, orders, place)
    finally:
        for connection in connections:
            connection.close()


class WritesNothing:
    """A committer whose write costs nothing: what is left of a write through the queue is the queue."""

    def write(self, _changes: Any, _records: Any, _documents: Any, _inbox: Any, *, sagas: Any = None) -> list[int]:
        return []


def queue_overhead_us(calls: int = 100_000, rounds: int = 5) -> float:
    """What the queue adds to a caller alone, per write (median of rounds): the single writer's
    cost of the queue, measured apart from the store's noise."""
    store = WritesNothing()
    queue = CommitQueue(store)  # type: ignore[arg-type]
    added = []
    for _ in range(rounds):
        began = time.perf_counter()
        for _ in range(calls):
            store.write((), (), (), ())
        direct = time.perf_counter() - began
        began = time.perf_counter()
        for _ in range(calls):
            queue.write((), (), (), ())
        added.append((time.perf_counter() - began - direct) / calls * 1e6)
    return round(statistics.median(added), 2)


def medians(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(statistics.median(row[key] for row in rows), 3) for key in rows[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n, rounds = args.orders, args.rounds
    workdir = Path(tempfile.mkdtemp(prefix="orderhex-writers-"))
    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, float]]] = {}
    try:
        for r in range(rounds):
            for writers in WRITERS:
                base = workdir / f"r{r}w{writers}"
                path, template = record_one_order(base / "recorded")
                runs.setdefault(f"raw_{writers}", []).append(raw(path, template, writers, n))
                runs.setdefault(f"queue_{writers}", []).append(orderhex(base / "queue", writers, n))
                runs.setdefault(f"no_queue_{writers}", []).append(orderhex(base / "plain", writers, n, queue=False))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    figures = {name: medians(rows) for name, rows in runs.items()}
    overhead = queue_overhead_us()
    load = os.getloadavg()
    print(f"{'writers':>7}  {'':22}{'orders/s':>9} {'p50 ms':>8} {'p99 ms':>8}  units/txn")
    for writers in WRITERS:
        for name, label in (("raw", "raw sqlite3 same rows"), ("queue", "orderhex, commit queue"),
                            ("no_queue", "orderhex, no queue")):
            row = figures[f"{name}_{writers}"]
            units = f"{row['units_per_transaction']:9.1f}" if "units_per_transaction" in row else ""
            print(f"{writers:>7}  {label:22}{row['per_s']:9.0f} {row['p50_ms']:8.2f} {row['p99_ms']:8.2f}  {units}")
    print(f"the queue adds {overhead} us to a write alone (orderhex places one order in "
          f"{1e6 / figures['queue_1']['per_s']:.0f} us)")
    print(f"load average {load_before[0]:.2f} before, {load[0]:.2f} after (1 min); {os.cpu_count()} cores")
    headlines = {
        "writers16_vs_raw": round(figures["queue_16"]["per_s"] / figures["raw_16"]["per_s"], 2),
        "writers16_p99_ms": round(figures["queue_16"]["p99_ms"], 1),
        "writers16_raw_p99_ms": round(figures["raw_16"]["p99_ms"], 1),
        "writers16_no_queue_p99_ms": round(figures["no_queue_16"]["p99_ms"], 1),
        "writers1_queue_vs_no_queue": round(figures["queue_1"]["per_s"] / figures["no_queue_1"]["per_s"], 3),
        "queue_overhead_us": overhead,
    }
    results = {"benchmark": "writers", "orders": n, "rounds": rounds, "python": platform.python_version(),
               "sqlite": sqlite3.sqlite_version, "load_average": [round(load_before[0], 2), round(load[0], 2)],
               "at": datetime.now(UTC).isoformat(timespec="seconds"), "figures": figures, "headlines": headlines}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {RESULTS}")
    print(f"place_order.writers16_vs_raw = {headlines['writers16_vs_raw']} (target 2)")
    print(f"place_order.writers16_p99_ms = {headlines['writers16_p99_ms']} (target 25)")
    print(f"place_order.writers16_raw_p99_ms = {headlines['writers16_raw_p99_ms']} (baseline)")
    print(f"place_order.writers16_no_queue_p99_ms = {headlines['writers16_no_queue_p99_ms']} (before the queue)")
    print(f"place_order.writers1_queue_vs_no_queue = {headlines['writers1_queue_vs_no_queue']} (target 0.97)")
    print(f"place_order.queue_overhead_us = {overhead} (target < 1% of one order)")


if __name__ == "__main__":
    main()
