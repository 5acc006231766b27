"""Services: each context, the process it runs in, its store's adapter and health, its outbox
backlog; with a registry, every registered instance (address, lease TTL counting down, health and
its last transition, requests per second through the gateway), `d` drains one and `x` stops it;
below, the selected service's documents (stock, accounts, shipments); `s` switches its store."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import ContentSwitcher, DataTable, Static

from core.inventory.queries import ListStock
from core.kernel.errors import DomainError, Unavailable
from core.kernel.money import format_amount
from core.payments.queries import ListAccounts
from core.shipping.queries import ListShipments
from ports.control import PortInfo, ServiceStatus
from ports.instances import Instances, InstanceView
from ports.inventory import Inventory
from ports.payments import Payments
from ports.shipping import Shipping
from tui.messages import SwitchProgress
from tui.panels.ports import choose_adapter
from tui.tables import Column, FittedTable
from tui.visibility import shown

# At 80 columns the shrinkable columns keep to their minimum and every column fits exactly.
COLUMNS = (Column("service", "Service", 9), Column("pid", "PID", 7),
           Column("slot", "Slot", 17, min_width=9), Column("adapter", "Adapter", 8),
           Column("health", "Health", 30, min_width=6), Column("backlog", "Backlog", 7), Column("lag", "Lag", 7),
           Column("consumer", "Consumer lag", 12, min_width=8))
DOCUMENTS_SHOWN = 50
NONE = "—"
HINT = "s on a service switches its store; the new one serves the next command."
IN_PROCESS_ONLY = "stock, accounts and shipments are shown in-process only"

INSTANCE_COLUMNS = (Column("instance", "Instance", 24, min_width=12), Column("address", "Address", 22, min_width=10),
                    Column("ttl", "TTL", 5), Column("health", "Health", 8),
                    Column("change", "Last change", 24, min_width=8), Column("rps", "req/s", 6))
INSTANCES_EVERY = 1.0  # the lease's TTL counts down at this step
INSTANCE_HINT = "d drains the selected instance (out of the registry), x stops it."

Rows = dict[str, tuple[str, ...]]


def instance_row(view: InstanceView) -> tuple[str, ...]:
    ttl = NONE if view.lease_remaining is None else f"{view.lease_remaining:.0f} s"
    last = view.transitions[-1] if view.transitions else None
    change = NONE if last is None else f"{last.at:%H:%M:%S} {last.state}: {last.reason}"
    rps = NONE if view.requests_per_second is None else f"{view.requests_per_second:.1f}"
    return (view.key, view.record.address.removeprefix("http://"), ttl, view.health, change, rps)


def service_row(status: ServiceStatus) -> tuple[str, ...]:
    pending = NONE if status.outbox_pending is None else str(status.outbox_pending)
    lag = NONE if status.outbox_lag_seconds is None else f"{status.outbox_lag_seconds:.1f} s"
    consumer = NONE if status.consumer_lag is None else str(status.consumer_lag)
    return (status.name, str(status.pid), status.slot, status.adapter, status.health, pending, lag, consumer)


def row_keys(services: tuple[ServiceStatus, ...]) -> dict[str, ServiceStatus]:
    """Each service by its name; a service listed more than once (its instances, as the gateway
    lists them) by its name and process, so that every instance keeps its row."""
    names = Counter(s.name for s in services)
    return {s.name if names[s.name] == 1 else f"{s.name} {s.pid}": s for s in services}


@dataclass(frozen=True)
class Documents:
    """One service's documents as the panel shows them: what they are, their columns, and a read
    of the newest `limit` (row key -> cells, newest first) that says whether there are more."""

    what: str
    columns: tuple[Column, ...]
    read: Callable[[int], tuple[Rows, bool]]


def stock(inventory: Inventory) -> Documents:
    def read(limit: int) -> tuple[Rows, bool]:
        page = inventory.list_stock(ListStock(limit=limit))
        return ({s.sku: (s.sku, str(s.on_hand), str(s.reserved), str(s.available), f"{s.updated_at:%H:%M:%S}")
                 for s in page.items}, page.next_cursor is not None)

    return Documents("stock", (Column("sku", "SKU", 24, min_width=10), Column("on_hand", "On hand", 8),
                               Column("reserved", "Reserved", 8), Column("available", "Available", 9),
                               Column("updated", "Updated", 8)), read)


def accounts(payments: Payments) -> Documents:
    def read(limit: int) -> tuple[Rows, bool]:
        page = payments.list_accounts(ListAccounts(limit=limit))
        return ({a.customer_id: (a.customer_id, a.currency,
                                 *(format_amount(amount, a.currency)
                                   for amount in (a.credit_limit, a.held, a.spent, a.available)))
                 for a in page.items}, page.next_cursor is not None)

    return Documents("accounts", (Column("customer", "Customer", 20, min_width=8), Column("currency", "Cur", 3),
                                  Column("limit", "Limit", 12, min_width=8), Column("held", "Held", 12, min_width=8),
                                  Column("spent", "Spent", 12, min_width=8),
                                  Column("available", "Available", 12, min_width=9)), read)


def shipments(shipping: Shipping) -> Documents:
    def read(limit: int) -> tuple[Rows, bool]:
        page = shipping.list_shipments(ListShipments(limit=limit))
        return ({s.order_id: (s.order_id, s.customer_id, s.status.value, f"{s.updated_at:%H:%M:%S}")
                 for s in page.items}, page.next_cursor is not None)

    return Documents("shipments", (Column("order", "Order", 36, min_width=10, keep_tail=True),
                                   Column("customer", "Customer", 16, min_width=8), Column("status", "Status", 10),
                                   Column("updated", "Updated", 8)), read)


def readable(inventory: Inventory | None = None, payments: Payments | None = None,
             shipping: Shipping | None = None) -> dict[str, Documents]:
    """The documents of the services whose ports the dashboard holds (none when attached)."""
    found: dict[str, Documents] = {}
    if inventory is not None:
        found["inventory"] = stock(inventory)
    if payments is not None:
        found["payments"] = accounts(payments)
    if shipping is not None:
        found["shipping"] = shipments(shipping)
    return found


class ServicesPanel(Vertical):
    """The rows come from Control (in-process or over HTTP alike); the documents below are read
    through the services' own ports, in a worker, whenever the rows are refreshed or the cursor
    moves, while the panel is shown. `s` opens the Ports panel's chooser for the service's store."""

    BINDINGS = [Binding("s", "switch", "Switch store"), Binding("d", "drain", "Drain instance"),
                Binding("x", "stop_instance", "Stop instance")]

    class InstancesRead(Message):
        """The registry's instances, read in a worker (`error` says why they could not be)."""

        def __init__(self, views: tuple[InstanceView, ...], error: str | None = None) -> None:
            super().__init__()
            self.views = views
            self.error = error

    class DocumentsRead(Message):
        """A service's documents, read in a worker (`error` says why they could not be)."""

        def __init__(self, service: str, rows: Rows, more: bool, error: str | None = None) -> None:
            super().__init__()
            self.service = service
            self.rows = rows
            self.more = more
            self.error = error

    def __init__(self, documents: Mapping[str, Documents], *, instances: Instances | None = None,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.documents = dict(documents)
        self.instances = instances
        self.instance_views: dict[str, InstanceView] = {}
        self.services: dict[str, ServiceStatus] = {}
        self.ports: dict[str, PortInfo] = {}
        self.switching = False

    def compose(self) -> ComposeResult:
        yield FittedTable(COLUMNS, id="services-table", cursor_type="row")
        yield Static(HINT, id="services-status")
        if self.instances is not None:
            yield Static("instances in the registry", id="instances-title", classes="section-title")
            yield FittedTable(INSTANCE_COLUMNS, id="instances-table", cursor_type="row")
            yield Static(INSTANCE_HINT, id="instances-status")
        yield Static("", id="documents-title", classes="section-title")
        with ContentSwitcher(id="documents", initial="documents-note"):
            for service, documents in self.documents.items():
                yield FittedTable(documents.columns, id=f"documents-{service}", cursor_type="row")
            yield Static("", id="documents-note")

    @property
    def primary(self) -> FittedTable:
        return self.query_one("#services-table", FittedTable)

    def show(self, services: tuple[ServiceStatus, ...]) -> None:
        self.services = row_keys(services)
        self.primary.sync({key: service_row(s) for key, s in self.services.items()})
        self.read_documents()
        self.refresh_bindings()

    def show_ports(self, ports: tuple[PortInfo, ...]) -> None:
        """The ports, for the chooser `s` opens: a service's store slot is one of them."""
        self.ports = {p.name: p for p in ports}
        self.refresh_bindings()

    def show_switch(self, progress: SwitchProgress) -> None:
        status = self.query_one("#services-status", Static)
        self.switching = not progress.done
        if not progress.done:
            status.update(f"switching {progress.port} to {progress.adapter}…")
            status.set_classes("")
        elif progress.error is None:
            status.update(f"{progress.port} is now served by {progress.adapter}")
            status.set_classes("ok")
        else:
            status.update(Content(f"switch of {progress.port} to {progress.adapter} failed: {progress.error}"))
            status.set_classes("error")
        self.refresh_bindings()

    def selected(self) -> ServiceStatus | None:
        table = self.primary
        if table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return self.services.get(row_key.value or "")

    # -- documents -------------------------------------------------------------------------------

    def read_documents(self) -> None:
        """Read the selected service's documents in a worker, if the panel is shown and holds them."""
        service = self.selected()
        if service is None or not shown(self):
            return
        documents = self.documents.get(service.name)
        if documents is None:
            self._note(service.name)
            return
        self._read(service.name, documents)

    @work(thread=True, exclusive=True, group="documents", exit_on_error=False)
    def _read(self, service: str, documents: Documents) -> None:
        try:
            rows, more = documents.read(DOCUMENTS_SHOWN)
        except Exception as exc:  # a store gone or failing: said above the table, the panel stays
            self.post_message(self.DocumentsRead(service, {}, more=False, error=str(exc) or type(exc).__name__))
        else:
            self.post_message(self.DocumentsRead(service, rows, more))

    def on_services_panel_documents_read(self, message: ServicesPanel.DocumentsRead) -> None:
        message.stop()
        selected = self.selected()
        if selected is None or selected.name != message.service:
            return  # the cursor moved on meanwhile: that service's read is on its way
        what = self.documents[message.service].what
        title = self.query_one("#documents-title", Static)
        if message.error is not None:
            title.update(Content(f"{message.service} · {what}: could not be read: {message.error}"))
            return
        count = f"the newest {len(message.rows)}" if message.more else f"{len(message.rows)}"
        title.update(Content(f"{message.service} · {what}: {count}, newest first"))
        table = self.query_one(f"#documents-{message.service}", FittedTable)
        if table.sync(message.rows) and [key.value for key in table.rows] != list(message.rows):
            table.clear()
            for key, values in message.rows.items():
                table.add(key, values)
        self.query_one("#documents", ContentSwitcher).current = table.id

    def _note(self, service: str) -> None:
        self.query_one("#documents-title", Static).update(Content(service))
        note = "its orders are in the Orders panel (2)" if service == "orders" else IN_PROCESS_ONLY
        self.query_one("#documents-note", Static).update(note)
        self.query_one("#documents", ContentSwitcher).current = "documents-note"

    def on_show(self) -> None:
        self.read_documents()
        self.read_instances()

    # -- instances -------------------------------------------------------------------------------

    def on_mount(self) -> None:
        if self.instances is not None:
            self.set_interval(INSTANCES_EVERY, self.read_instances)

    def read_instances(self) -> None:
        if self.instances is not None and shown(self):
            self._read_instances(self.instances)

    @work(thread=True, exclusive=True, group="instances", exit_on_error=False)
    def _read_instances(self, instances: Instances) -> None:
        try:
            views = instances.list()
        except Exception as exc:  # the registry unreachable: said under the table, the panel stays
            self.post_message(self.InstancesRead((), error=str(exc) or type(exc).__name__))
        else:
            self.post_message(self.InstancesRead(views))

    def on_services_panel_instances_read(self, message: ServicesPanel.InstancesRead) -> None:
        message.stop()
        if message.error is not None:
            self.query_one("#instances-status", Static).update(Content(f"registry: {message.error}"))
            return
        self.instance_views = {v.key: v for v in message.views}
        table = self.query_one("#instances-table", FittedTable)
        table.sync({v.key: instance_row(v) for v in message.views})
        count = len(message.views)
        self.query_one("#instances-title", Static).update(
            f"{count} instance{'s' if count != 1 else ''} in the registry")
        self.refresh_bindings()

    def selected_instance(self) -> InstanceView | None:
        if self.instances is None:
            return None
        table = self.query_one("#instances-table", FittedTable)
        if table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return self.instance_views.get(row_key.value or "")

    def action_drain(self) -> None:
        if (view := self.selected_instance()) is not None:
            self._act("drain", view.key)

    def action_stop_instance(self) -> None:
        if (view := self.selected_instance()) is not None:
            self._act("stop", view.key)

    @work(thread=True, group="instance-actions", exit_on_error=False)
    def _act(self, action: str, key: str) -> None:
        assert self.instances is not None
        try:
            getattr(self.instances, action)(key)
        except (DomainError, Unavailable) as exc:
            self.app.call_from_thread(self.app.notify, str(exc), title=f"{action} {key}", severity="error",
                                      markup=False)
        else:
            done = "drained: out of the registry" if action == "drain" else "asked to stop"
            self.app.call_from_thread(self.app.notify, f"{key} {done}", title=action.capitalize(), markup=False)
        self.app.call_from_thread(self.read_instances)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table is self.primary:
            self.read_documents()
            self.refresh_bindings()

    # -- switching a service's store -------------------------------------------------------------

    def _store(self) -> PortInfo | None:
        service = self.selected()
        port = None if service is None else self.ports.get(service.slot)
        return port if port is not None and port.switchable else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "switch":
            return True if self._store() is not None and not self.switching else None
        if action in ("drain", "stop_instance"):
            return True if self.selected_instance() is not None else None
        return True

    def action_switch(self) -> None:
        port = self._store()
        if port is not None and not self.switching:
            choose_adapter(self, port)
