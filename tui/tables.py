"""Tables that update by key and always fit their width.

A refresh changes only the cells that differ, adds new rows and drops stale ones. On a narrow
terminal the columns that may shrink give up cells (their values clipped with "…") so that every
column stays in view instead of the last ones scrolling off. Cells are plain text, never markup:
a customer id like "c-[/b]" is shown as typed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import events
from textual.widgets import DataTable


@dataclass(frozen=True)
class Column:
    """`width` is what the column takes when there is room. Widths are fixed, never measured: a
    DataTable measures new rows only when it next goes idle, and a frame drawn before that keeps
    label-wide columns in its line cache (seen as truncated columns that never recover).

    `min_width` set: on a narrow table the column shrinks down to it. `keep_tail`: a clipped value
    keeps its end (an id's tail tells rows apart, its head is a timestamp shared by a burst)."""

    key: str
    label: str
    width: int
    min_width: int | None = None
    keep_tail: bool = False


def fit(columns: Sequence[Column], room: int, padding: int = 1) -> list[int]:
    """Each column's width in a table `room` cells wide: shrinkable columns start at their minimum
    and grow back to their width while room is left, those that need the fewest cells first (a
    customer id is whole again before an order id gets back its head)."""
    widths = [c.width if c.min_width is None else min(c.min_width, c.width) for c in columns]
    spare = room - sum(widths) - 2 * padding * len(columns)
    for n in sorted(range(len(columns)), key=lambda n: columns[n].width - widths[n]):
        grow = max(0, min(spare, columns[n].width - widths[n]))
        widths[n] += grow
        spare -= grow
    return widths


def clip(value: str, width: int, keep_tail: bool = False) -> str:
    if len(value) <= width:
        return value
    if width <= 1:
        return "…"[:width]
    return "…" + value[len(value) - width + 1:] if keep_tail else value[:width - 1] + "…"


class Cell(Text):
    """A cell as shown (clipped to its column), remembering the whole value: sorting uses it."""

    __slots__ = ("value",)

    def __init__(self, value: str, width: int, keep_tail: bool) -> None:
        super().__init__(clip(value, width, keep_tail), no_wrap=True, end="")
        self.value = value


def _values(cells: Any) -> Any:
    return tuple(c.value for c in cells) if isinstance(cells, tuple) else cells.value


class FittedTable(DataTable[Cell]):
    """A DataTable over `columns`, refitted to its width on every resize."""

    def __init__(self, columns: Sequence[Column], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.specs = tuple(columns)
        self.widths = [c.width for c in self.specs]
        for column in self.specs:
            self.add_column(column.label, key=column.key, width=column.width)

    def _cells(self, values: Sequence[str]) -> list[Cell]:
        return [Cell(v, w, c.keep_tail) for v, w, c in zip(values, self.widths, self.specs, strict=True)]

    def add(self, key: str, values: Sequence[str]) -> None:
        self.add_row(*self._cells(values), key=key)

    def values(self, key: str) -> list[str]:
        return [cell.value for cell in self.get_row(key)]

    def sync(self, rows: Mapping[str, Sequence[str]]) -> bool:
        """Show exactly `rows` (row key -> values in column order). True if rows were added or
        removed (the caller may want to re-sort); the cursor stays on its row when it survives."""
        existing = {key.value for key in self.rows}
        stale = existing - rows.keys()
        added = False
        with self.app.batch_update():
            for key in stale:
                self.remove_row(key)
            for key, values in rows.items():
                if key not in existing:
                    self.add(key, values)
                    added = True
                    continue
                for n, (column, old, value) in enumerate(zip(self.specs, self.get_row(key), values, strict=True)):
                    if old.value != value:
                        self.update_cell(key, column.key, Cell(value, self.widths[n], column.keep_tail))
        return added or bool(stale)

    def sort_by(self, *columns: str, key: Callable[[Any], Any] | None = None, reverse: bool = False) -> None:
        """Sort on the whole values, not on what a narrow column shows of them."""
        def whole(cells: Any) -> Any:
            values = _values(cells)
            return values if key is None else key(values)

        self.sort(*columns, key=whole, reverse=reverse)

    def on_resize(self, event: events.Resize) -> None:
        self.refit()

    def refit(self) -> None:
        room = self.size.width - self.styles.scrollbar_size_vertical
        if room <= 0:
            return  # in a hidden tab: fitted when shown
        widths = fit(self.specs, room, self.cell_padding)
        if widths == self.widths:
            return
        self.widths = widths
        # Rows, their order and the cursor stay; the columns are laid again at the new widths.
        whole = {row.value: self.values(row.value) for row in self.rows if row.value is not None}
        with self.app.batch_update():
            for column in self.specs:
                self.remove_column(column.key)
            for column, width in zip(self.specs, widths, strict=True):
                self.add_column(column.label, key=column.key, width=width)
            for row_key, values in whole.items():
                for column, cell in zip(self.specs, self._cells(values), strict=True):
                    self.update_cell(row_key, column.key, cell)
