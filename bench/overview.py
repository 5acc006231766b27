"""The order overview's fan-out against the same calls made one after another, and the chained
checkout's compounding failure rate.

Each of inventory, payments and shipping answers through its in-process adapter after a door that
adds a fixed latency (standing for a network hop), so the parts cost the same in both runs. The
overview asks the four parts at once; the baseline, in the same process, asks the same four ports
in sequence. Headline: `overview.fanout_gain` = sequential p50 / overview p50 (target > 1).

The checkout quote is then run with every hop failing 10% of the time (a seeded random), and the
share of quotes that fail is printed beside 1 - 0.9^3 = 27.1%.

    .venv/bin/python bench/overview.py [--calls N] [--latency-ms MS]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import bootstrap
from adapters.inbound.cli.contexts import seed
from adapters.outbound.inprocess import queries as local
from core.kernel.errors import Unavailable
from core.orders.checkout import Checkout, HopFailed
from core.orders.commands import LineItem, PlaceOrder
from core.orders.overview import OrderOverviews
from core.orders.queries import GetOrder
from core.runtime.fanout import FanOut, LastKnown


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=5.0)
    args = parser.parse_args()
    delay = args.latency_ms / 1000

    def network(service: str, within: float | None) -> None:
        time.sleep(delay)

    with tempfile.TemporaryDirectory() as tmp:
        app = bootstrap.Application(bootstrap.load_config(env={}, overrides={
            "storage.adapter": "memory", "messaging.adapter": "memory", "data_dir": str(Path(tmp))}))
        seed(app.inventory, app.payments)
        order_id = app.ordering.send(PlaceOrder(customer_id="c-1", currency="EUR",
                                                lines=(LineItem("SKU-1", 1, Decimal("9.99")),))).order_id
        stock = local.LocalStockLevels(app.inventory, network)
        credit = local.LocalCredit(app.payments, network)
        shipments = local.LocalShipmentStatus(app.shipping, network)
        fanout = FanOut(monotonic=time.monotonic, classify=lambda e: "error")
        overviews = OrderOverviews(app.ordering, stock, credit, shipments, fanout=fanout,
                                   last_known=LastKnown(time.monotonic), monotonic=time.monotonic, part_timeout=5,
                                   deadline=5)
        fanned: list[float] = []
        sequential: list[float] = []
        for _ in range(args.calls):
            started = time.perf_counter()
            overviews.overview(order_id)
            fanned.append(time.perf_counter() - started)
            started = time.perf_counter()
            app.ordering.get(GetOrder(order_id=order_id))
            stock.reservation(order_id)
            credit.payment(order_id)
            shipments.shipment(order_id)
            sequential.append(time.perf_counter() - started)
        fanout.close()

        rng = random.Random(12)

        def flaky(service: str, within: float | None) -> None:
            if rng.random() < 0.10:
                raise Unavailable(service, "an injected fault (10%)")

        checkout = Checkout(local.LocalCredit(app.payments, flaky), monotonic=time.monotonic, deadline=5, door=flaky)
        quotes, failed = 10_000, 0
        body = {"customer_id": "c-1", "currency": "EUR", "lines": [{"sku": "SKU-1", "quantity": 1,
                                                                   "unit_price": "9.99"}]}
        for _ in range(quotes):
            try:
                checkout.quote(body)
            except HopFailed:
                failed += 1
        app.close()

    p50, p99 = statistics.median(fanned) * 1000, _percentile(fanned, 0.99) * 1000
    s50, s99 = statistics.median(sequential) * 1000, _percentile(sequential, 0.99) * 1000
    print(f"load average {os.getloadavg()[0]:.2f}; {args.calls} calls, {args.latency_ms:g} ms per remote part")
    print(f"overview (fan-out):      p50 {p50:.2f} ms  p99 {p99:.2f} ms")
    print(f"the same calls in turn:  p50 {s50:.2f} ms  p99 {s99:.2f} ms")
    print(f"checkout, 3 hops at 10% failure each: {failed / quotes:.1%} of {quotes} quotes failed "
          f"(1 - 0.9^3 = {1 - 0.9 ** 3:.1%})")
    print(f"overview.p50_ms = {p50:.2f}")
    print(f"overview.p99_ms = {p99:.2f}")
    print(f"overview.fanout_gain = {s50 / p50:.2f} (target >1)")
    print(f"checkout.failure_share = {failed / quotes:.3f} (expected {1 - 0.9 ** 3:.3f})")


if __name__ == "__main__":
    main()
