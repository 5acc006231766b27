"""Whether a widget is in the tab being shown: hidden panels keep their data and draw it on show."""

from __future__ import annotations

from textual.widget import Widget


def shown(widget: Widget) -> bool:
    """False while the widget or any container above it has `display` off (e.g. an inactive tab)."""
    return all(node.display for node in widget.ancestors_with_self if isinstance(node, Widget))
