"""The `/` field of a panel: it filters as it is typed, and says how to leave it."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import Input


class FilterInput(Input):
    """While it has focus every key is text (`p` included, so "OrderPlaced" can be typed), so the
    key bar says how to get back to the panel's keys: enter keeps the filter, esc too."""

    BINDINGS = [
        Binding("enter", "submit", "Apply filter"),
        Binding("escape", "app.back", "Leave filter"),
    ]
