"""One order in full: its lines, totals, event history and overview parts, and the actions an operator
takes on it."""

from __future__ import annotations

from collections.abc import Callable

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Header, Input, Static

from core.kernel.fields import MAX_TEXT_LENGTH
from core.kernel.messages import DomainEvent
from core.orders.commands import ApproveOrder, CancelOrder, OrderCommand, RejectOrder, ShipOrder
from core.orders.queries import GetOrder, OrderSummary
from ports.orders import Ordering
from ports.overview import OrderOverview, Overviews
from tui.keybar import KeyBar
from tui.tables import Column, FittedTable

LINE_COLUMNS = (Column("sku", "SKU", 20, min_width=10), Column("quantity", "Quantity", 8),
                Column("unit", "Unit price", 16, min_width=12), Column("total", "Line total", 16, min_width=12))
HISTORY_COLUMNS = (Column("version", "Version", 7), Column("event", "Event", 16), Column("at", "At", 19),
                   Column("detail", "Detail", 40, min_width=12))
PART_COLUMNS = (Column("part", "Part", 8), Column("status", "Status", 12), Column("latency", "Latency", 9),
                Column("source", "Source", 10), Column("age", "Age", 8), Column("error", "Why", 40, min_width=8))


def describe(event: DomainEvent) -> str:
    payload = event.payload()
    if "reason" in payload:
        return str(payload["reason"])
    if "lines" in payload:
        count = len(payload["lines"])
        return f"{count} line{'' if count == 1 else 's'}, customer {payload.get('customer_id', '?')}"
    return ""


class ReasonPrompt(ModalScreen[str | None]):
    """Asks why (rejecting and cancelling need a reason); enter sends it, esc gives up."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self._question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="reason-prompt"):
            yield Static(Content(self._question), classes="section-title")
            yield Input(placeholder="the reason, in a few words", id="reason", max_length=MAX_TEXT_LENGTH)
            yield Static("enter sends · esc cancels", classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)


class OrderDetailScreen(Screen[None]):
    """Loaded in a thread worker; esc goes back to the table.

    `a` approves, `r` rejects, `s` ships, `c` cancels, each through the Ordering port like any
    other door. The keys are offered whatever the order's state: the order decides, and its
    refusal ("order … is PENDING: cannot ship") is shown here.

    With an Overviews port, the Parts table shows how the overview read each part (status,
    latency, live or last known and how old): read when the screen opens, again on `v`."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("a", "approve", "Approve"),
        Binding("r", "reject", "Reject"),
        Binding("s", "ship", "Ship"),
        Binding("c", "cancel", "Cancel"),
        Binding("v", "overview", "Overview"),
    ]

    class Loaded(Message):
        def __init__(self, summary: OrderSummary | None, history: list[DomainEvent], error: str | None) -> None:
            super().__init__()
            self.summary = summary
            self.history = history
            self.error = error

    class Acted(Message):
        """A command was sent: `refusal` is None when the order took it."""

        def __init__(self, done: str, refusal: str | None) -> None:
            super().__init__()
            self.done = done
            self.refusal = refusal

    class Overviewed(Message):
        def __init__(self, overview: OrderOverview | None, error: str | None) -> None:
            super().__init__()
            self.overview = overview
            self.error = error

    def __init__(self, ordering: Ordering, order_id: str, overviews: Overviews | None = None) -> None:
        super().__init__()
        self._ordering = ordering
        self._overviews = overviews
        self.order_id = order_id

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="detail"):
            yield Static(Content(f"Order {self.order_id}: loading…"), id="detail-summary")
            yield Static("", id="detail-status")
            with Vertical(classes="detail-section"):
                yield Static("Lines", classes="section-title")
                yield FittedTable(LINE_COLUMNS, id="detail-lines", cursor_type="none")
            with Vertical(classes="detail-section"):
                yield Static("History", classes="section-title")
                yield FittedTable(HISTORY_COLUMNS, id="detail-history", cursor_type="none")
            with Vertical(classes="detail-section"):
                yield Static(Content("Parts" if self._overviews else "Parts: no overview here (orders does not "
                                     "run in this process)"), classes="section-title", id="detail-parts-title")
                if self._overviews is not None:
                    yield FittedTable(PART_COLUMNS, id="detail-parts", cursor_type="none")
        yield KeyBar()

    def on_mount(self) -> None:
        self.load()
        if self._overviews is not None:
            self.read_overview(self._overviews)

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
            summary_box.update(Content(f"Order {self.order_id}: {message.error}"))
            return
        s = message.summary
        text = (f"Order {s.order_id}   customer {s.customer_id}   status {s.status.value}   "
                f"total {s.total} {s.currency}\ncreated {s.created_at:%Y-%m-%d %H:%M:%S}   "
                f"updated {s.updated_at:%Y-%m-%d %H:%M:%S}   version {s.version}")
        if s.reason:
            text += f"\nreason: {s.reason}"
        if message.error:
            text += f"\n{message.error}"
        summary_box.update(Content(text))
        lines = self.query_one("#detail-lines", FittedTable)
        lines.clear()
        for n, line in enumerate(s.lines):
            lines.add(str(n), (line.sku, str(line.quantity), f"{line.unit_price} {s.currency}",
                               f"{line.unit_price * line.quantity} {s.currency}"))
        history = self.query_one("#detail-history", FittedTable)
        history.clear()
        for event in message.history:
            history.add(str(event.aggregate_version), (str(event.aggregate_version), type(event).__name__,
                                                       f"{event.occurred_at:%Y-%m-%d %H:%M:%S}", describe(event)))

    @work(thread=True, exclusive=True, group="detail-overview", exit_on_error=False)
    def read_overview(self, overviews: Overviews) -> None:
        try:
            self.post_message(self.Overviewed(overviews.overview(self.order_id), None))
        except Exception as exc:  # an unknown order, a lost server: shown, never raised
            self.post_message(self.Overviewed(None, str(exc)))

    def on_order_detail_screen_overviewed(self, message: Overviewed) -> None:
        title = self.query_one("#detail-parts-title", Static)
        table = self.query_one("#detail-parts", FittedTable)
        if message.overview is None:
            title.update(Content(f"Parts: {message.error}"))
            table.clear()
            return
        overview = message.overview
        whole = "all live" if overview.complete else "partial"
        title.update(Content(f"Parts: {whole}, read in {overview.latency_ms:.0f} ms (v reads again)"))
        table.sync({part.name: (part.name, part.status, f"{part.latency_ms:.0f} ms", part.source,
                                "" if part.age_seconds is None else f"{part.age_seconds:.1f} s", part.error or "")
                    for part in overview.parts})

    # -- actions --------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self._overviews is not None if action == "overview" else True

    def action_overview(self) -> None:
        if self._overviews is not None:
            self.read_overview(self._overviews)

    def action_approve(self) -> None:
        self._send(ApproveOrder(order_id=self.order_id), "approved")

    def action_ship(self) -> None:
        self._send(ShipOrder(order_id=self.order_id), "shipped")

    def action_reject(self) -> None:
        self._ask("Reject", lambda reason: self._send(RejectOrder(order_id=self.order_id, reason=reason), "rejected"))

    def action_cancel(self) -> None:
        self._ask("Cancel", lambda reason: self._send(CancelOrder(order_id=self.order_id, reason=reason),
                                                     "cancelled"))

    def _ask(self, verb: str, then: Callable[[str], None]) -> None:
        def answered(reason: str | None) -> None:
            if reason is not None:
                then(reason)

        self.app.push_screen(ReasonPrompt(f"{verb} order {self.order_id}: why?"), answered)

    def _send(self, command: OrderCommand, done: str) -> None:
        self._show_status(f"sending {type(command).__name__}…", error=False)
        self._deliver(command, done)

    @work(thread=True, group="detail-action", exit_on_error=False)
    def _deliver(self, command: OrderCommand, done: str) -> None:
        try:
            self._ordering.send(command)
        except Exception as exc:  # the order's refusal (or a lost server) is shown, never raised
            self.post_message(self.Acted(done, str(exc)))
        else:
            self.post_message(self.Acted(done, None))

    def on_order_detail_screen_acted(self, message: Acted) -> None:
        if message.refusal is not None:
            self._show_status(f"refused: {message.refusal}", error=True)
            self.notify(message.refusal, title="Refused", severity="error", markup=False)
            return
        self._show_status(f"{message.done}", error=False)
        self.notify(f"{message.done} {self.order_id}", title="Order", markup=False)
        self.load()

    def _show_status(self, text: str, *, error: bool) -> None:
        status = self.query_one("#detail-status", Static)
        status.update(Content(text))
        status.set_class(error, "error")

