"""Ports & adapters: what serves each port, and switching it while the service runs."""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import DataTable, LoadingIndicator, OptionList, Static
from textual.widgets.option_list import Option

from ports.control import PortInfo
from tui.messages import SwitchProgress
from tui.tables import Column, FittedTable

# "inventory.storage" (a store per service) is the longest port name.
COLUMNS = (Column("port", "Port", 17, min_width=10), Column("active", "Active", 10),
           Column("available", "Available", 36, min_width=20), Column("health", "Health", 36, min_width=10))


def port_row(port: PortInfo, health: dict[str, str]) -> tuple[str, ...]:
    available = ", ".join(port.available) if port.switchable else f"{', '.join(port.available)} (fixed at start)"
    return (port.name, port.active, available, health.get(port.name, ""))


class AdapterChooser(ModalScreen[str | None]):
    """Pick the adapter to switch a port to; esc cancels."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, port: PortInfo) -> None:
        super().__init__()
        self._port = port

    def compose(self) -> ComposeResult:
        with Vertical(id="chooser"):
            yield Static(f"Switch {self._port.name} (now {self._port.active}) to:", classes="section-title")
            yield OptionList(*[Option(name + ("  (active)" if name == self._port.active else ""), id=name,
                                      disabled=name == self._port.active) for name in self._port.available],
                             id="chooser-options")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


class SwitchRequested(Message):
    """A person picked `adapter` to serve `port` (the app runs the switch in a worker)."""

    def __init__(self, port: str, adapter: str) -> None:
        super().__init__()
        self.port = port
        self.adapter = adapter


def choose_adapter(widget: Widget, port: PortInfo) -> None:
    """Ask which adapter should serve `port`; the pick is posted from `widget` as SwitchRequested."""

    def chosen(adapter: str | None) -> None:
        if adapter is not None:
            widget.post_message(SwitchRequested(port.name, adapter))

    widget.app.push_screen(AdapterChooser(port), chosen)


class PortsPanel(Vertical):
    """`s` switches the port under the cursor; a switch runs in a worker and its progress shows here."""

    BINDINGS = [Binding("s", "switch", "Switch adapter")]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.ports: dict[str, PortInfo] = {}
        self.switching: SwitchProgress | None = None
        self._switch_started = 0.0

    def compose(self) -> ComposeResult:
        yield FittedTable(COLUMNS, id="ports-table", cursor_type="row")
        yield LoadingIndicator(id="switch-spinner")
        yield Static("Press s on a port to switch its adapter; it serves the next command.", id="switch-status")

    def on_mount(self) -> None:
        self.query_one("#switch-spinner").display = False

    @property
    def primary(self) -> FittedTable:
        return self.query_one("#ports-table", FittedTable)

    def show(self, ports: tuple[PortInfo, ...], health: dict[str, str]) -> None:
        self.ports = {p.name: p for p in ports}
        self.primary.sync({p.name: port_row(p, health) for p in ports})
        self.refresh_bindings()

    def show_switch(self, progress: SwitchProgress) -> None:
        status = self.query_one("#switch-status", Static)
        spinner = self.query_one("#switch-spinner")
        if not progress.done:
            self.switching = progress
            self._switch_started = time.monotonic()
            spinner.display = True
            status.update(f"switching {progress.port} to {progress.adapter}… "
                          "(a server-backed adapter starts its server first)")
        else:
            self.switching = None
            spinner.display = False
            took = time.monotonic() - self._switch_started
            if progress.error is None:
                status.update(f"{progress.port} is now served by {progress.adapter} ({took:.1f} s)")
                status.set_classes("ok")
            else:
                # An error's text is shown as it is, never read as markup.
                status.update(Content(f"switch of {progress.port} to {progress.adapter} failed: {progress.error}"))
                status.set_classes("error")
        self.refresh_bindings()

    def selected_port(self) -> PortInfo | None:
        table = self.primary
        if table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return self.ports.get(row_key.value or "")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "switch":
            port = self.selected_port()
            return True if port is not None and port.switchable and self.switching is None else None
        return True

    def action_switch(self) -> None:
        port = self.selected_port()
        if port is not None and port.switchable:
            choose_adapter(self, port)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.refresh_bindings()
