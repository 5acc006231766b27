"""The orderhex dashboard: watch and steer the running hexagon live.

It is an inbound adapter like the CLI or REST: it holds an Ordering and a Control port (and,
in-process, the inventory, payments and shipping ports whose documents the Services panel shows),
so the same app runs in-process or attached to a served instance over HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Header, Input, TabbedContent, TabPane
from textual.worker import Worker, WorkerState, get_current_worker

from ports.control import Control
from ports.instances import Instances
from ports.inventory import Inventory
from ports.orders import Ordering
from ports.overview import Overviews
from ports.payments import Payments
from ports.resilience import Resilience
from ports.sagas import SagaOperations
from ports.shipping import Shipping
from tui.help import HelpScreen
from tui.keybar import KeyBar
from tui.live import FeedBuffer, LivePump, OrderFilter
from tui.messages import (
    ConnectionChanged,
    FeedBatch,
    OrdersSnapshot,
    OutboxSnapshot,
    PortsSnapshot,
    ServicesSnapshot,
    SwitchProgress,
)
from tui.panels.breakers import BreakersPanel
from tui.panels.feed import FeedPanel
from tui.panels.order_detail import OrderDetailScreen
from tui.panels.orders import OrdersPanel
from tui.panels.outbox import OutboxPanel
from tui.panels.place import PlaceOrderPanel
from tui.panels.ports import PortsPanel, SwitchRequested
from tui.panels.sagas import SagasPanel
from tui.panels.services import ServicesPanel, readable

PanelT = TypeVar("PanelT", bound=Widget)


@dataclass(frozen=True)
class PanelSpec:
    """One tab of the dashboard. Later panels (sagas, circuit breakers) append a spec here;
    number keys follow the order of this list."""

    id: str
    title: str
    build: Callable[[DashboardApp], Widget]


PANELS: list[PanelSpec] = [
    PanelSpec("ports", "Ports & adapters", lambda app: PortsPanel(id="ports-panel")),
    PanelSpec("orders", "Orders", lambda app: OrdersPanel(id="orders-panel")),
    PanelSpec("outbox", "Outbox", lambda app: OutboxPanel(id="outbox-panel")),
    PanelSpec("feed", "Event feed", lambda app: FeedPanel(id="feed-panel")),
    PanelSpec("place", "Place order", lambda app: PlaceOrderPanel(app.ordering, load_seed=app.load_seed,
                                                                   id="place-panel")),
    PanelSpec("services", "Services", lambda app: ServicesPanel(app.documents, instances=app.instances,
                                                                id="services-panel")),
    PanelSpec("breakers", "Breakers", lambda app: BreakersPanel(app.resilience, poll_interval=app.poll_interval,
                                                                id="breakers-panel")),
    PanelSpec("sagas", "Sagas", lambda app: SagasPanel(app.sagas, app.resilience, poll_interval=app.poll_interval,
                                                       id="sagas-panel")),
]


class DashboardApp(App[None]):
    CSS_PATH = "dashboard.tcss"
    TITLE = "orderhex"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("colon", "command_palette", "Palette"),
        Binding("ctrl+p", "command_palette", "Palette", show=False),
        Binding("escape", "back", "Back", show=False),
        *[Binding(str(n), f"show_panel('{spec.id}')", spec.title, show=False)
          for n, spec in enumerate(PANELS, start=1)],
    ]

    def __init__(self, ordering: Ordering, control: Control, *, inventory: Inventory | None = None,
                 payments: Payments | None = None, shipping: Shipping | None = None, source: str = "in-process",
                 poll_interval: float | None = 1.0, load_seed: int | None = None, notice: str | None = None,
                 resilience: Resilience | None = None, sagas: SagaOperations | None = None,
                 instances: Instances | None = None, overviews: Overviews | None = None) -> None:
        """`inventory`, `payments` and `shipping`, where given, are read for the Services panel's
        documents (in-process only: attached, the dashboard holds no such port); `overviews` for
        the order detail's parts."""
        super().__init__()
        self.notice = notice
        self.ordering = ordering
        self.control = control
        self.documents = readable(inventory, payments, shipping)
        self.instances = instances  # the registry's instances, for the Services panel
        self.resilience = resilience
        self.sagas = sagas
        self.overviews = overviews
        self.poll_interval = poll_interval
        self.source = source
        self.load_seed = load_seed
        self.pump = LivePump(ordering, control, FeedBuffer(), self.post_message, poll_interval)
        self.ports_snapshot: PortsSnapshot | None = None
        self.tabs: TabbedContent
        # The panels by id. Kept here because `query_one` searches the screen on top, which is a
        # detail or help screen while one is open, and messages keep arriving meanwhile.
        self.panels: dict[str, Widget] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(initial=PANELS[0].id):
            for n, spec in enumerate(PANELS, start=1):
                with TabPane(f"{n} {spec.title}", id=spec.id):
                    self.panels[spec.id] = spec.build(self)
                    yield self.panels[spec.id]
        yield KeyBar()

    def on_mount(self) -> None:
        self.tabs = self.query_one(TabbedContent)
        self.sub_title = self.source
        if self.notice:
            self.notify(self.notice, severity="warning", timeout=10, markup=False)
        self._run_pump()
        self._focus_panel(PANELS[0].id)

    @work(thread=True, exclusive=True, group="live", exit_on_error=False)
    def _run_pump(self) -> None:
        worker = get_current_worker()
        self.pump.run(lambda: worker.is_cancelled)

    # -- routing messages from workers to panels -------------------------------------------

    def panel(self, kind: type[PanelT]) -> PanelT:
        return next(p for p in self.panels.values() if isinstance(p, kind))

    @property
    def exiting(self) -> bool:
        # Workers keep posting until they see the cancellation; once the app is exiting its
        # widgets are being torn down, so late data is dropped instead of shown.
        return self._exit or not self.is_running

    def on_feed_batch(self, message: FeedBatch) -> None:
        if self.exiting:
            return
        fresh = self.panel(FeedPanel).add(message)
        self.panel(OutboxPanel).count_published(fresh)
        self.panel(BreakersPanel).feed(message.events)
        self.panel(SagasPanel).follow(message.events)

    def on_orders_snapshot(self, message: OrdersSnapshot) -> None:
        if self.exiting:
            return
        self.panel(OrdersPanel).show(message.page)

    def on_outbox_snapshot(self, message: OutboxSnapshot) -> None:
        if self.exiting:
            return
        self.panel(OutboxPanel).show(message.status, message.rows)

    def on_ports_snapshot(self, message: PortsSnapshot) -> None:
        if self.exiting:
            return
        self.ports_snapshot = message
        self.panel(PortsPanel).show(message.ports, message.health)
        self.panel(ServicesPanel).show_ports(message.ports)

    def on_services_snapshot(self, message: ServicesSnapshot) -> None:
        if self.exiting:
            return
        self.panel(ServicesPanel).show(message.services)

    def on_connection_changed(self, message: ConnectionChanged) -> None:
        if message.ok:
            self.sub_title = self.source
            self.notify(f"{self.source}: answering again", title="Connection", markup=False)
        elif message.refused:
            self.sub_title = f"{self.source} · TOKEN REFUSED, retrying"
            self.notify(message.detail, title="Token refused", severity="error", timeout=15, markup=False)
        else:
            self.sub_title = f"{self.source} · NOT ANSWERING, retrying"
            self.notify(message.detail, title="Not answering, retrying", severity="error", timeout=6, markup=False)

    def on_switch_progress(self, message: SwitchProgress) -> None:
        self.panel(PortsPanel).show_switch(message)
        self.panel(ServicesPanel).show_switch(message)
        if message.done and message.error is not None:
            self.notify(message.error, title=f"Switch of {message.port} failed", severity="error", timeout=8,
                        markup=False)
        elif message.done:
            self.notify(f"{message.port} -> {message.adapter}", title="Adapter switched")

    def on_orders_panel_filter_changed(self, message: OrdersPanel.FilterChanged) -> None:
        self.pump.order_filter = OrderFilter(message.status, message.customer)
        self.pump.request("orders")

    def on_orders_panel_detail_requested(self, message: OrdersPanel.DetailRequested) -> None:
        self.push_screen(OrderDetailScreen(self.ordering, message.order_id, self.overviews))

    def on_switch_requested(self, message: SwitchRequested) -> None:
        self.switch_adapter(message.port, message.adapter)

    def on_outbox_panel_relay_toggled(self, message: OutboxPanel.RelayToggled) -> None:
        self._toggle_relay(message.pause)

    # -- actions that run in workers ---------------------------------------------------------

    def switch_adapter(self, port: str, adapter: str) -> None:
        """Switch in a worker: a server-backed adapter may take seconds to start its server."""
        if self.panel(PortsPanel).switching is not None:
            self.notify("a switch is already running", severity="warning")
            return
        self.on_switch_progress(SwitchProgress(port, adapter, done=False))
        self._switch(port, adapter)

    @work(thread=True, exclusive=True, group="switch", exit_on_error=False)
    def _switch(self, port: str, adapter: str) -> None:
        try:
            self.control.switch(port, adapter)
        except Exception as exc:  # Unavailable, ValidationError or a lost server: reported, app stays up
            self.post_message(SwitchProgress(port, adapter, done=True, error=str(exc)))
        else:
            self.post_message(SwitchProgress(port, adapter, done=True))
        self.pump.request("ports", "orders", "outbox", "services")

    @work(thread=True, group="relay", exit_on_error=False)
    def _toggle_relay(self, pause: bool) -> None:
        try:
            if pause:
                self.control.pause_relay()
            else:
                self.control.resume_relay()
        except Exception as exc:  # no relay here, or a lost server: said, not raised
            self.call_from_thread(self.notify, str(exc), title="Relay", severity="error", markup=False)
        self.pump.request("outbox")

    # -- keys ----------------------------------------------------------------------------------

    @property
    def active_panel(self) -> str:
        return self.tabs.active

    def action_show_panel(self, panel_id: str) -> None:
        self.tabs.active = panel_id
        self._focus_panel(panel_id)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if self.exiting:
            return
        if event.pane.id is not None:
            self._focus_panel(event.pane.id)

    def _focus_panel(self, panel_id: str) -> None:
        primary = getattr(self.panels.get(panel_id), "primary", None)
        if isinstance(primary, Widget):
            primary.focus()
        self.refresh_bindings()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_back(self) -> None:
        if len(self.screen_stack) > 1:
            self.pop_screen()
        elif isinstance(self.focused, Input):
            self._focus_panel(self.active_panel)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Panels live on the main screen: under a detail or help screen, number keys do nothing.
        return not (action == "show_panel" and len(self.screen_stack) > 1)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for n, spec in enumerate(PANELS, start=1):
            yield SystemCommand(f"Show {spec.title}", f"panel {n}", partial(self.action_show_panel, spec.id))
        for port in self.ports_snapshot.ports if self.ports_snapshot else ():
            if not port.switchable:
                continue
            for adapter in port.available:
                if adapter != port.active:
                    yield SystemCommand(f"Switch {port.name} to {adapter}", f"{port.name} is served by {port.active}",
                                        partial(self.switch_adapter, port.name, adapter))
        outbox = self.panel(OutboxPanel)
        if outbox.check_action("pause_relay", ()):
            yield SystemCommand("Pause relay", "stop publishing; the outbox backlog grows",
                                partial(self._toggle_relay, True))
        if outbox.check_action("resume_relay", ()):
            yield SystemCommand("Resume relay", "publish again; the backlog drains",
                                partial(self._toggle_relay, False))
        yield SystemCommand("Load random orders", "place the Place panel's number of random orders",
                            self.panel(PlaceOrderPanel).action_load)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # A worker that dies of a bug is reported where a person sees it, and the app stays up.
        if event.state is WorkerState.ERROR and not self.exiting:
            self.notify(f"{event.worker.name or event.worker.group} failed: {event.worker.error}",
                        title="Internal error", severity="error", timeout=15, markup=False)

    def on_unmount(self) -> None:
        self.workers.cancel_all()
