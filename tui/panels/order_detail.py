"""One order in full: its lines, totals, and its event history."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from core.kernel.messages import DomainEvent
from core.orders.queries import GetOrder, OrderSummary
from ports.orders import Ordering
from tui.keybar import KeyBar
from tui.tables import add_columns


def describe(event: DomainEvent) -> str:
    payload = event.payload()
    if "reason" in payload:
        return str(payload["reason"])
    if "lines" in payload:
        count = len(payload["lines"])
        return f"{count} line{'' if count == 1 else 's'}, customer {payload.get('customer_id', '?')}"
    return ""


class OrderDetailScreen(Screen[None]):
    """Loaded in a thread worker; esc goes back to the table."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    class Loaded(Message):
        def __init__(self, summary: OrderSummary | None, history: list[DomainEvent], error: str | None) -> None:
            super().__init__()
            self.summary = summary
            self.history = history
            self.error = error

    def __init__(self, ordering: Ordering, order_id: str) -> None:
        super().__init__()
        self._ordering = ordering
        self.order_id = order_id

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="detail"):
            yield Static(f"Order {self.order_id}: loading…", id="detail-summary")
            with Vertical(classes="detail-section"):
                yield Static("Lines", classes="section-title")
                lines: DataTable[str] = DataTable(id="detail-lines", cursor_type="none")
                add_columns(lines, (("sku", "SKU", 20), ("quantity", "Quantity", None), ("unit", "Unit price", 16),
                                    ("total", "Line total", 16)))
                yield lines
            with Vertical(classes="detail-section"):
                yield Static("History", classes="section-title")
                history: DataTable[str] = DataTable(id="detail-history", cursor_type="none")
                add_columns(history, (("version", "Version", None), ("event", "Event", 16), ("at", "At", 19),
                                      ("detail", "Detail", 40)))
                yield history
        yield KeyBar()

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="detail", exit_on_error=False)
    def load(self) -> None:
        # Errors (NotFound after a storage switch, a lost server) are shown, never raised.
        try:
            summary = self._ordering.get(GetOrder(order_id=self.order_id))
        except Exception as exc:
            self.post_message(self.Loaded(None, [], str(exc)))
            return
        try:
            self.post_message(self.Loaded(summary, self._ordering.history(self.order_id), None))
        except Exception as exc:
            self.post_message(self.Loaded(summary, [], f"history unavailable: {exc}"))

    def on_order_detail_screen_loaded(self, message: Loaded) -> None:
        summary_box = self.query_one("#detail-summary", Static)
        if message.summary is None:
            summary_box.update(f"Order {self.order_id}: {message.error}")
            return
        s = message.summary
        text = (f"Order {s.order_id}   customer {s.customer_id}   status {s.status.value}   "
                f"total {s.total} {s.currency}\ncreated {s.created_at:%Y-%m-%d %H:%M:%S}   "
                f"updated {s.updated_at:%Y-%m-%d %H:%M:%S}   version {s.version}")
        if s.reason:
            text += f"\nreason: {s.reason}"
        if message.error:
            text += f"\n{message.error}"
        summary_box.update(text)
        lines = self.query_one("#detail-lines", DataTable)
        for line in s.lines:
            lines.add_row(line.sku, str(line.quantity), f"{line.unit_price} {s.currency}",
                          f"{line.unit_price * line.quantity} {s.currency}")
        history = self.query_one("#detail-history", DataTable)
        for event in message.history:
            history.add_row(str(event.aggregate_version), type(event).__name__,
                            f"{event.occurred_at:%Y-%m-%d %H:%M:%S}", describe(event))
