"""The schema's version, as Alembic records it: read it, compare it with the code, upgrade it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

from adapters.outbound.sql.engine import WRITER, SqlTarget, translated
from core.kernel.errors import Unavailable

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest revision in migrations/versions (a test holds it to Alembic's head): a store already
# at it opens without loading Alembic, which every CLI command would otherwise pay for.
HEAD = "0005"


@dataclass(frozen=True)
class SchemaState:
    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head

    @property
    def known(self) -> bool:
        """Whether this code knows the database's revision (else the database is newer)."""
        return self.current is None or _revision_known(self.current)


def _config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@cache
def _script() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config())


@cache
def _revision_known(revision: str) -> bool:
    from alembic.util import CommandError

    try:
        return _script().get_revision(revision) is not None
    except CommandError:
        return False


def schema_state(engine: Engine, target: SqlTarget) -> SchemaState:
    from alembic.runtime.migration import MigrationContext

    with translated(target), engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    head = _script().get_current_head()
    assert head is not None
    return SchemaState(current, head)


def upgrade(engine: Engine, target: SqlTarget) -> SchemaState:
    """Bring the schema to the code's revision. Refuses a database newer than the code."""
    before = schema_state(engine, target)
    refuse_newer(before, target)
    if before.up_to_date:
        return before
    from alembic import command

    config = _config()
    with translated(target), engine.connect() as connection:
        connection.execution_options(**WRITER)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        if connection.in_transaction():
            connection.commit()
    return schema_state(engine, target)


def refuse_newer(state: SchemaState, target: SqlTarget) -> None:
    if not state.known:
        raise Unavailable(target.shown, f"its schema is at revision {state.current}, newer than this orderhex "
                                        f"(which knows up to {state.head})",
                          "Nothing was changed: run a newer orderhex, or point storage.url elsewhere")


def ensure_current(engine: Engine, target: SqlTarget) -> None:
    """Start only on the schema the code was written for; a managed store upgrades itself."""
    if _recorded_revision(engine, target) == HEAD:
        return
    state = schema_state(engine, target)
    if state.up_to_date:
        return
    refuse_newer(state, target)
    if target.managed:
        upgrade(engine, target)
        return
    found = state.current or "none (an empty database)"
    raise Unavailable(target.shown, f"its schema is at revision {found}, older than this orderhex needs "
                                    f"({state.head})",
                      "Nothing was changed: run `orderhex db upgrade` with the same configuration")


def _recorded_revision(engine: Engine, target: SqlTarget) -> str | None:
    """The one revision the version table records (None: no table, none or several), read
    without Alembic."""
    with translated(target), engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        rows = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return rows[0] if len(rows) == 1 else None
