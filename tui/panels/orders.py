"""Orders: a live table over the read model, filtered by status and customer."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, Select, Static

from core.orders.model import OrderStatus
from core.orders.queries import OrderPage, OrderSummary
from tui.filter_input import FilterInput
from tui.tables import Column, FittedTable
from tui.visibility import shown

# At 80 columns the order id gives up most of its cells (its tail still tells orders apart), the
# customer and the total a few of theirs; the rest keep their width.
COLUMNS = (Column("order", "Order", 36, min_width=10, keep_tail=True), Column("customer", "Customer", 12, min_width=10),
           Column("status", "Status", 9), Column("total", "Total", 16, min_width=12), Column("lines", "Lines", 5),
           Column("created", "Created", 19))


def order_row(summary: OrderSummary) -> tuple[str, ...]:
    return (summary.order_id, summary.customer_id, summary.status.value, f"{summary.total} {summary.currency}",
            str(summary.line_count), f"{summary.created_at:%Y-%m-%d %H:%M:%S}")


class OrdersPanel(Vertical):
    """Rows keep their key (the order id): a refresh updates changed cells, adds and drops rows."""

    BINDINGS = [
        Binding("slash", "filter", "Filter"),
        Binding("d", "detail", "Details"),
    ]

    class FilterChanged(Message):
        def __init__(self, status: OrderStatus | None, customer: str | None) -> None:
            super().__init__()
            self.status = status
            self.customer = customer

    class DetailRequested(Message):
        def __init__(self, order_id: str) -> None:
            super().__init__()
            self.order_id = order_id

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.page: OrderPage | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="orders-bar"):
            yield Select([(s.value.lower(), s) for s in OrderStatus], prompt="any status", id="status-filter")
            yield FilterInput(placeholder="/ customer", id="customer-filter")
            yield Static("", id="orders-count")
        yield FittedTable(COLUMNS, id="orders-table", cursor_type="row", zebra_stripes=True)

    @property
    def primary(self) -> FittedTable:
        return self.query_one("#orders-table", FittedTable)

    def show(self, page: OrderPage) -> None:
        """Keep the newest page; draw it now if the panel is shown, else when it is."""
        self.page = page
        if shown(self):
            self._draw()

    def on_show(self) -> None:
        self._draw()

    def _draw(self) -> None:
        page = self.page
        if page is None:
            return
        rows = {s.order_id: order_row(s) for s in page.items}
        table = self.primary
        had_rows = table.row_count > 0
        if table.sync(rows):
            table.sort_by("created", "order", reverse=True)
        if had_rows != (table.row_count > 0):
            self.app.refresh_bindings()  # "details" applies only when there is a row
        more = " (newest shown)" if page.next_cursor else ""
        self.query_one("#orders-count", Static).update(f"{len(rows)} orders{more}", layout=False)

    def selected_order(self) -> str | None:
        table = self.primary
        if table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return row_key.value

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "filter":
            return not self.query_one("#customer-filter", Input).has_focus
        if action == "detail" and self.selected_order() is None:
            return None
        return True

    def action_filter(self) -> None:
        self.query_one("#customer-filter", Input).focus()

    def action_detail(self) -> None:
        order_id = self.selected_order()
        if order_id is not None:
            self.post_message(self.DetailRequested(order_id))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.DetailRequested(event.row_key.value))

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._filter_changed()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._filter_changed()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.primary.focus()

    def _filter_changed(self) -> None:
        status = self.query_one("#status-filter", Select).value
        customer = self.query_one("#customer-filter", Input).value.strip()
        self.post_message(self.FilterChanged(status if isinstance(status, OrderStatus) else None, customer or None))
