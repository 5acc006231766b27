"""Fitting table columns to a width: every column in view, the cells that matter kept."""

from __future__ import annotations

from tui.panels.orders import COLUMNS as ORDER_COLUMNS
from tui.tables import Column, clip, fit


def test_the_orders_columns_fit_the_table_an_80_column_terminal_leaves():
    widths = fit(ORDER_COLUMNS, room=77)
    assert sum(widths) + 2 * len(widths) <= 77
    assert all(w >= (c.min_width or c.width) for w, c in zip(widths, ORDER_COLUMNS, strict=True))


def test_a_column_that_needs_few_cells_to_be_whole_gets_them_first():
    columns = (Column("id", "Id", 36, min_width=10), Column("customer", "Customer", 12, min_width=10))
    assert fit(columns, room=10 + 12 + 4 + 3) == [13, 12]


def test_with_room_every_column_has_its_full_width():
    assert fit(ORDER_COLUMNS, room=200) == [c.width for c in ORDER_COLUMNS]


def test_a_clipped_id_keeps_its_tail_and_a_clipped_text_its_head():
    assert clip("01a203b0-6c2f-7000-8381-7740352343a4", 10, keep_tail=True) == "…0352343a4"
    assert clip("memory, file, sqlite", 10) == "memory, f…"
    assert clip("short", 10) == "short"
