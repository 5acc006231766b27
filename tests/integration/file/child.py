"""A separate process working on a file store through the real application, for the tests that
need real processes (kill -9, the writer lock, writers taking turns). Run as a script:

    python child.py zygote                      for each stdin line "DATA_DIR MODE REPORT", fork a process
                                                that churns (place/approve/ship in a loop, each commit
                                                reported as a line in REPORT) and print its pid
    python child.py tear DATA_DIR               place 3 orders, then die by SIGXFSZ halfway through writing the 4th
    python child.py full DATA_DIR               place, fail one write halfway (file too large), place again
    python child.py hold DATA_DIR               place one order, say "ready", hold the lock until stdin closes
    python child.py turns DATA_DIR MODE ACTION ID...   approve or reject each order, taking turns on the lock

Lines are printed (and flushed) only after the command returned, i.e. after its commit.
"""

from __future__ import annotations

import os
import resource
import signal
import sys
import time
from decimal import Decimal
from typing import TextIO

import bootstrap
from core.kernel.errors import IllegalTransition, Unavailable
from core.orders.commands import ApproveOrder, PlaceOrder, RejectOrder, ShipOrder
from core.orders.wire import place_order_from_json


def application(data_dir: str, mode: str, **extra: object) -> bootstrap.Application:
    config = bootstrap.load_config(env={}, overrides={
        "storage.adapter": "file", "storage.orders": mode, "data_dir": data_dir, **extra,
    })
    return bootstrap.Application(config)


def place_command(n: int) -> PlaceOrder:
    return place_order_from_json({
        "customer_id": f"c-{n % 7}", "currency": "EUR",
        "lines": [{"sku": f"SKU-{n % 13}", "quantity": 1 + n % 5, "unit_price": str(Decimal("9.99"))},
                  {"sku": "SKU-X", "quantity": 2, "unit_price": "0.50"}],
    }, idempotency_key=f"k-{os.getpid()}-{n}")


def say(*words: str, to: TextIO = sys.stdout) -> None:
    print(*words, file=to, flush=True)


def zygote() -> None:
    """Forks the churning processes, so each starts in milliseconds with everything imported
    (this process has no threads, which makes forking it safe)."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the killed children
    for line in sys.stdin:
        data_dir, mode, report = line.split()
        pid = os.fork()
        if pid == 0:
            try:
                with open(report, "w", encoding="utf-8") as out:
                    churn(data_dir, mode, out)
            finally:
                os._exit(1)
        say(str(pid))


def churn(data_dir: str, mode: str, out: TextIO) -> None:
    # A small journal limit, so kills also land in compactions; snapshots every 2 events.
    app = application(data_dir, mode, **{"storage.file_compact_bytes": 16 * 1024, "storage.snapshot_every": 2})
    n = 0
    while True:
        n += 1
        order_id = app.ordering.place(place_command(n)).order_id
        say("placed", order_id, to=out)
        if n % 2 == 0:
            app.ordering.approve(ApproveOrder(order_id=order_id))
            say("approved", order_id, to=out)
            if n % 4 == 0:
                app.ordering.ship(ShipOrder(order_id=order_id))
                say("shipped", order_id, to=out)


def tear(data_dir: str) -> None:
    """A real crash in the middle of writing a record: past the file-size limit the kernel cuts
    the write short and, with SIGXFSZ at its default (Python ignores it), kills the process on
    the next one."""
    app = application(data_dir, "state")
    for n in range(3):
        say("placed", app.ordering.place(place_command(n)).order_id)
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    _limit_journal(data_dir, extra=100)
    app.ordering.place(place_command(3))
    say("survived")


def full(data_dir: str) -> None:
    """A write that fails halfway (file too large, as on a full disk) and the store going on."""
    app = application(data_dir, "state")
    say("placed", app.ordering.place(place_command(0)).order_id)
    _limit_journal(data_dir, extra=100)
    try:
        app.ordering.place(place_command(1))
    except Unavailable as exc:
        say("unavailable", str(exc))
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    say("placed", app.ordering.place(place_command(2)).order_id)
    app.close()


def _limit_journal(data_dir: str, extra: int) -> None:
    size = os.path.getsize(os.path.join(data_dir, "files", "journal.jsonl"))
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + extra, resource.RLIM_INFINITY))


def hold(data_dir: str) -> None:
    app = application(data_dir, "state")
    say("placed", app.ordering.place(place_command(0)).order_id)
    say("ready")
    sys.stdin.read()
    app.close()


def turns(data_dir: str, mode: str, action: str, order_ids: list[str]) -> None:
    """Each command in its own turn on the writer lock: wait while the other process holds it,
    write, then close to hand the lock over. The app (and its in-memory index) lives throughout,
    so a stale index would show up as a lost update."""
    app = application(data_dir, mode)
    say("ready")
    sys.stdin.readline()  # start together with the other process
    deadline = time.monotonic() + 60
    for order_id in order_ids:
        while True:
            try:
                if action == "approve":
                    app.ordering.approve(ApproveOrder(order_id=order_id))
                else:
                    app.ordering.reject(RejectOrder(order_id=order_id, reason="out of stock"))
                say("won", order_id)
                break
            except IllegalTransition:
                say("lost", order_id)
                break
            except Unavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.002)
            finally:
                app.close()


if __name__ == "__main__":
    match sys.argv[1:]:
        case ["zygote"]:
            zygote()
        case ["tear", data_dir]:
            tear(data_dir)
        case ["full", data_dir]:
            full(data_dir)
        case ["hold", data_dir]:
            hold(data_dir)
        case ["turns", data_dir, mode, action, *order_ids]:
            turns(data_dir, mode, action, order_ids)
        case _:
            sys.exit(f"usage: {__doc__}")
