"""Both SQL stores for the integration tests: SQLite in a temp dir, PostgreSQL on a fresh database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import bootstrap

SQL_STORES = [pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=SQL_STORES)
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """Config overrides for a fresh, empty SQL store of each kind."""
    overrides: dict[str, Any] = {"storage.adapter": request.param, "data_dir": str(tmp_path)}
    if request.param == "postgres":
        overrides["storage.url"] = request.getfixturevalue("postgres_url")
    return overrides


def make_app(overrides: dict[str, Any], **more: Any) -> bootstrap.Application:
    return bootstrap.Application(bootstrap.load_config(env={}, overrides={
        "messaging.adapter": "memory", "clock": "system", "ids": "uuid7", **overrides, **more}))
