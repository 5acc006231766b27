"""SQL storage: one SQLAlchemy Core code path for SQLite (the embedded default) and PostgreSQL."""
