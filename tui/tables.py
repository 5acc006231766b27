"""Updating a DataTable by key: change only the cells that differ, add new rows, drop stale ones."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from textual.widgets import DataTable

# (key, label, width). Widths are fixed wherever a cell can be wider than its label: a DataTable
# measures new rows only when it next goes idle, and a frame drawn before that keeps the
# label-wide columns in its line cache (seen as truncated columns that never recover).
ColumnSpec = tuple[str, str, int | None]


def add_columns(table: DataTable[str], columns: Iterable[ColumnSpec]) -> None:
    for key, label, width in columns:
        table.add_column(label, key=key, width=width)


def keys(columns: Iterable[ColumnSpec]) -> list[str]:
    return [key for key, _, _ in columns]


def sync_rows(table: DataTable[str], rows: Mapping[str, Sequence[str]], columns: Sequence[str]) -> bool:
    """Make `table` show exactly `rows` (row key -> cells in column order). True if rows were added
    or removed (the caller may want to re-sort); the cursor stays on its row when it survives."""
    existing = {key.value for key in table.rows}
    stale = existing - rows.keys()
    added = False
    with table.app.batch_update():
        for key in stale:
            table.remove_row(key)
        for key, cells in rows.items():
            if key not in existing:
                table.add_row(*cells, key=key)
                added = True
                continue
            current = table.get_row(key)
            for column, old, new in zip(columns, current, cells, strict=True):
                if old != new:
                    table.update_cell(key, column, new)
    return added or bool(stale)
