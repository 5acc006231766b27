"""A separate process working on a file store through the real application (the orders service
over FileStorage), for the tests that need real processes (kill -9, the writer lock, writers
taking turns, one process reading what another wrote). Run as a script:

    python child.py zygote                      for each stdin line "DATA_DIR MODE REPORT", fork a process
                                                that churns (place/approve/ship in a loop, each commit
                                                reported as a line in REPORT) and print its pid
    python child.py tear DATA_DIR               place 3 orders, then die by SIGXFSZ halfway through writing the 4th
    python child.py full DATA_DIR               place, fail one write halfway (file too large), place again
    python child.py hold DATA_DIR               place one order, say "ready", hold the lock until stdin closes
    python child.py turns DATA_DIR MODE ACTION ID...   approve or reject each order, taking turns on the lock
    python child.py place DATA_DIR MODE CUSTOMER   place one order, print its id
    python child.py list DATA_DIR MODE          print the listed orders, one "ORDER_ID CUSTOMER_ID" line each

Lines are printed (and flushed) only after the command returned, i.e. after its commit.
"""

from __future__ import annotations

import os
import resource
import signal
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import TextIO

from adapters.outbound.file.storage import FileStorage
from adapters.outbound.memory.feed import RingBufferFeed
from adapters.outbound.system.clock import SystemClock
from adapters.outbound.system.ids import Uuid7Ids
from core.kernel.errors import IllegalTransition, Unavailable
from core.orders.commands import ApproveOrder, PlaceOrder, RejectOrder, ShipOrder
from core.orders.queries import ListOrders
from core.orders.service import CONTEXT, OrderingService
from core.orders.wire import place_order_from_json
from core.runtime.service import Service
from ports.storage import Storage
from ports.system import EventFeed

EVENTS_TOPIC = "orderhex.orders.events"


def ordering(storage: Storage, feed: EventFeed | None = None) -> OrderingService:
    """The orders application over `storage`, as the composition root builds it."""
    service = Service(CONTEXT, storage=storage, feed=feed or RingBufferFeed(), clock=SystemClock(), ids=Uuid7Ids(),
                      events_topic=EVENTS_TOPIC)
    return OrderingService(service)


class Application:
    """The orders application over the file store in `<data_dir>/files` (where the composition
    root keeps it)."""

    def __init__(self, data_dir: str, mode: str, **options: int) -> None:
        self.storage = FileStorage(Path(data_dir) / "files", feed=RingBufferFeed(), mode=mode, **options)
        self.ordering = ordering(self.storage)

    def close(self) -> None:
        self.storage.close()


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
    app = Application(data_dir, mode, compact_bytes=16 * 1024, snapshot_every=2)
    n = 0
    while True:
        n += 1
        order_id = app.ordering.send(place_command(n)).order_id
        say("placed", order_id, to=out)
        if n % 2 == 0:
            app.ordering.send(ApproveOrder(order_id=order_id))
            say("approved", order_id, to=out)
            if n % 4 == 0:
                app.ordering.send(ShipOrder(order_id=order_id))
                say("shipped", order_id, to=out)


def tear(data_dir: str) -> None:
    """A real crash in the middle of writing a record: past the file-size limit the kernel cuts
    the write short and, with SIGXFSZ at its default (Python ignores it), kills the process on
    the next one."""
    app = Application(data_dir, "state")
    for n in range(3):
        say("placed", app.ordering.send(place_command(n)).order_id)
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    _limit_journal(data_dir, extra=100)
    app.ordering.send(place_command(3))
    say("survived")


def full(data_dir: str) -> None:
    """A write that fails halfway (file too large, as on a full disk) and the store going on."""
    app = Application(data_dir, "state")
    say("placed", app.ordering.send(place_command(0)).order_id)
    _limit_journal(data_dir, extra=100)
    try:
        app.ordering.send(place_command(1))
    except Unavailable as exc:
        say("unavailable", str(exc))
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    say("placed", app.ordering.send(place_command(2)).order_id)
    app.close()


def _limit_journal(data_dir: str, extra: int) -> None:
    size = os.path.getsize(os.path.join(data_dir, "files", "journal.jsonl"))
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + extra, resource.RLIM_INFINITY))


def hold(data_dir: str) -> None:
    app = Application(data_dir, "state")
    say("placed", app.ordering.send(place_command(0)).order_id)
    say("ready")
    sys.stdin.read()
    app.close()


def turns(data_dir: str, mode: str, action: str, order_ids: list[str]) -> None:
    """Each command in its own turn on the writer lock: wait while the other process holds it,
    write, then close to hand the lock over. The app (and its in-memory index) lives throughout,
    so a stale index would show up as a lost update."""
    app = Application(data_dir, mode)
    say("ready")
    sys.stdin.readline()  # start together with the other process
    deadline = time.monotonic() + 60
    for order_id in order_ids:
        while True:
            try:
                if action == "approve":
                    app.ordering.send(ApproveOrder(order_id=order_id))
                else:
                    app.ordering.send(RejectOrder(order_id=order_id, reason="out of stock"))
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


def place_one(data_dir: str, mode: str, customer_id: str) -> None:
    app = Application(data_dir, mode)
    command = place_order_from_json({"customer_id": customer_id, "currency": "EUR",
                                     "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price": "9.99"}]})
    say(app.ordering.send(command).order_id)
    app.close()


def list_all(data_dir: str, mode: str) -> None:
    app = Application(data_dir, mode)
    for summary in app.ordering.list(ListOrders(limit=500)).items:
        say(summary.order_id, summary.customer_id)
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
        case ["place", data_dir, mode, customer_id]:
            place_one(data_dir, mode, customer_id)
        case ["list", data_dir, mode]:
            list_all(data_dir, mode)
        case _:
            sys.exit(f"usage: {__doc__}")
