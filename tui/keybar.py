"""The keys that apply to what has focus, as one line of text.

Textual's Footer rebuilds its key widgets on every focus change and, through their data
bindings, keeps the old ones alive (measured here: about 40 widgets per panel switch, never
freed). This bar renders the same information as text, so a long session stays flat in memory.
"""

from __future__ import annotations

from rich.text import Text
from textual.screen import Screen
from textual.widgets import Static


class KeyBar(Static):
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        background: $panel;
        color: $text;
    }
    """

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._bindings_changed(self.screen)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        if not self.is_attached or screen is not self.screen:
            return
        line = Text(no_wrap=True, overflow="ellipsis")
        seen: set[str] = set()
        for _, binding, enabled, _ in screen.active_bindings.values():
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            style = "" if enabled else "dim"
            line.append(f" {self.app.get_key_display(binding)} ", style=f"bold {style}".strip())
            line.append(f"{binding.description} ", style=style or "")
        self.update(line, layout=False)
