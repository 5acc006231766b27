"""Key-press latency and memory of the dashboard under 2,000 feed events per second.

The real DashboardApp runs headless (Textual's `run_test`) over a real in-memory Application.
A publisher thread drives the EventFeed at the target rate (synthetic relay/outbox events plus
real PlaceOrder commands at 2/s, each reporting a command and a domain event), while the
benchmark presses panel keys and times each press until the panel is shown. A press is timed from
the key event entering the app (as from a terminal) until the panel it names is the active one.
The baseline, in the same process and the same app, is the same key presses with no traffic. Memory is the
process's resident set, sampled after a warm-up and at the end of the loaded run.
Results go to bench/results/dashboard.json.

    .venv/bin/python bench/dashboard.py [--rate 2000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from textual import events
from textual.pilot import Pilot
from textual.widgets import TabbedContent

import bootstrap
from core.kernel.feed import FeedEvent, FeedKind
from core.orders.wire import place_order_from_json
from tui.app import DashboardApp
from tui.panels.feed import FeedPanel

RESULTS = Path(__file__).parent / "results" / "dashboard.json"
ORDER = {"customer_id": "c-bench", "currency": "EUR", "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": "5.00"}]}
# Real orders keep the tables moving; few, so that the in-memory store's own growth (it keeps
# every order) does not hide the dashboard's memory in the figure.
ORDERS_PER_SECOND = 2
PRESS_EVERY = 0.2
PANEL_KEYS = (("2", "orders"), ("4", "feed"), ("3", "outbox"), ("1", "ports"))


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def drive(application: bootstrap.Application, rate: int, stop: threading.Event, sent: list[int]) -> None:
    """Publish `rate` feed events per second in 10 ms slices until `stop`; real orders count toward it."""
    feed, ordering = application.feed, application.ordering
    slice_s = 0.01
    per_slice = rate * slice_s
    order_every = max(1, int(rate / ORDERS_PER_SECOND))
    started, owed, published = time.perf_counter(), 0.0, 0
    while not stop.is_set():
        owed += per_slice
        while owed >= 1:
            if published % order_every == 0:
                ordering.send(place_order_from_json(ORDER))
                published += 2  # the command and its domain event
                owed -= 2
                continue
            feed.publish(FeedEvent(kind=FeedKind.RELAY_LAG, text=f"outbox backlog {published}, lag 0.0 s",
                                   at=datetime.now(UTC), data={"pending": published}))
            published += 1
            owed -= 1
        next_slice = started + (published / rate)
        delay = next_slice - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    sent.append(published)


async def press_latencies(pilot: Pilot[Any], app: DashboardApp, seconds: float) -> list[float]:
    tabs = app.query_one(TabbedContent)
    driver = app._driver
    assert driver is not None
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < deadline:
        key, panel = PANEL_KEYS[n % len(PANEL_KEYS)]
        n += 1
        # The key goes in the way a terminal's would (through the driver); pilot.press would also
        # wait for idle CPU, which never comes under load.
        event = events.Key(key, key)
        event.set_sender(app)
        started = time.perf_counter()
        driver.send_message(event)
        while tabs.active != panel:
            await asyncio.sleep(0.0005)
        latencies.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(PRESS_EVERY)
    return latencies


async def sample_rss(samples: list[float]) -> None:
    while True:
        samples.append(rss_mib())
        await asyncio.sleep(1.0)


def summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {"presses": len(ordered), "p50_ms": round(statistics.median(ordered), 2),
            "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1], 2),
            "p99_ms": round(ordered[max(0, int(len(ordered) * 0.99) - 1)], 2), "max_ms": round(ordered[-1], 2)}


async def run(rate: int, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as data_dir:
        application = bootstrap.Application(bootstrap.load_config(env={}, overrides={
            "storage.adapter": "memory", "messaging.adapter": "memory", "data_dir": data_dir}))
        relay = bootstrap.start_relay(application)
        app = DashboardApp(application.ordering, application.control, poll_interval=1.0)
        try:
            async with app.run_test(size=(120, 40)) as pilot:
                await pilot.pause(1.0)
                idle = await press_latencies(pilot, app, min(seconds, 10))
                stop, sent = threading.Event(), []
                driver = threading.Thread(target=drive, args=(application, rate, stop, sent), daemon=True)
                received_before = app.query_one(FeedPanel).received
                started = time.perf_counter()
                driver.start()
                await asyncio.sleep(min(3.0, seconds / 4))
                warm_rss = rss_mib()
                samples: list[float] = []
                sampler = asyncio.create_task(sample_rss(samples))
                loaded = await press_latencies(pilot, app, seconds)
                sampler.cancel()
                stop.set()
                driver.join(10)
                elapsed = time.perf_counter() - started
                end_rss = rss_mib()
                await pilot.pause(0.5)  # the last batch
                received = app.query_one(FeedPanel).received - received_before
                log_lines = len(app.query_one("#feed-log").lines)
        finally:
            relay.stop()
            application.close()
    idle_s, loaded_s = summary(idle), summary(loaded)
    return {
        "benchmark": "dashboard", "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "target_events_per_s": rate, "achieved_events_per_s": round(sent[0] / elapsed),
        "events_shown_by_feed_panel": received, "events_published": sent[0], "feed_log_lines": log_lines,
        "idle": idle_s, "loaded": loaded_s,
        "ratio_p50_loaded_over_idle": round(loaded_s["p50_ms"] / idle_s["p50_ms"], 2),
        "rss_mib_after_warmup": round(warm_rss, 1), "rss_mib_at_end": round(end_rss, 1),
        "rss_growth_mib": round(end_rss - warm_rss, 1), "loaded_seconds": round(elapsed, 1),
        # Bounded memory shows as a flat second half: the feed's ring buffer, the panel's event
        # deque and the log's line cap are full by then.
        "rss_growth_second_half_mib": round(samples[-1] - samples[len(samples) // 2], 1),
        "rss_samples_mib": [round(x, 1) for x in samples],
        "load_average_1min": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=2000, help="feed events per second")
    parser.add_argument("--seconds", type=float, default=20, help="length of the loaded run")
    args = parser.parse_args()
    result = asyncio.run(run(args.rate, args.seconds))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"feed: {result['achieved_events_per_s']} events/s achieved (target {args.rate}), "
          f"{result['events_shown_by_feed_panel']} of {result['events_published']} reached the feed panel")
    for name in ("idle", "loaded"):
        s = result[name]
        print(f"key press ({name:>6}): p50 {s['p50_ms']} ms  p95 {s['p95_ms']} ms  p99 {s['p99_ms']} ms  "
              f"max {s['max_ms']} ms  ({s['presses']} presses)")
    print(f"ratio p50 loaded/idle: {result['ratio_p50_loaded_over_idle']}")
    print(f"memory: {result['rss_mib_after_warmup']} MiB after warm-up -> {result['rss_mib_at_end']} MiB "
          f"at end (+{result['rss_growth_mib']} MiB over {result['loaded_seconds']} s; "
          f"+{result['rss_growth_second_half_mib']} MiB in its second half)")
    print(f"machine load average (1 min) during the run: {result['load_average_1min']:.1f} on {os.cpu_count()} CPUs")
    print(f"results: {RESULTS}")


if __name__ == "__main__":
    main()
