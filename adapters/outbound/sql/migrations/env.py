"""Alembic's entry point: migrations run on the connection the adapter hands over, never on
an engine of their own, so they get the same pragmas and `BEGIN IMMEDIATE` as every writer."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
