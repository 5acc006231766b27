"""Place an order by hand, or place many random ones to put the system under traffic.

The form builds the same JSON every inbound adapter speaks and hands it to the core's wire
parser, so the messages next to the fields are the domain's own, word for word.
"""

from __future__ import annotations

import random
import re
import time
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, Input, Label, ProgressBar, Static
from textual.worker import get_current_worker

from core.kernel.errors import InvalidFields, ValidationError
from core.orders.commands import PlaceOrder
from core.orders.wire import place_order_from_json
from ports.orders import Ordering
from tui.messages import LoadProgress
from tui.traffic import random_order

FORM_LINES = 3
MAX_LOAD = 100_000
_LINE_FIELD = re.compile(r"^lines\[(\d+)\]")
# Placeholders read as examples, never as values (they are also dimmed and in italics).
EXAMPLES = {"customer_id": "e.g. c-1", "sku-0": "e.g. SKU-1", "quantity-0": "e.g. 2", "unit_price-0": "e.g. 9.99"}


def _quantity(text: str) -> Any:
    # A whole number goes over as a number; anything else is passed on as typed so that the
    # wire parser, not the form, says what is wrong with it.
    stripped = text.strip()
    return int(stripped) if re.fullmatch(r"-?\d+", stripped) else stripped


def field_errors(exc: ValidationError) -> list[tuple[str, str]]:
    """Every (field, message) the error names: InvalidFields carries one per bad field."""
    errors = exc.errors if isinstance(exc, InvalidFields) else [exc]
    return [(e.field, e.message) for e in errors]


class PlaceOrderPanel(VerticalScroll):
    """ctrl+s places the form's order; ctrl+l places the load field's number of random orders."""

    BINDINGS = [
        Binding("ctrl+s", "place", "Place order"),
        Binding("ctrl+l", "load", "Load random"),
    ]

    class Placed(Message):
        def __init__(self, order_id: str, created: bool) -> None:
            super().__init__()
            self.order_id = order_id
            self.created = created

    class Refused(Message):
        """The service refused the order: `errors` are (field, message) pairs, field "" when none is named."""

        def __init__(self, errors: list[tuple[str, str]], rows: tuple[int, ...]) -> None:
            super().__init__()
            self.errors = errors
            self.rows = rows

    def __init__(self, ordering: Ordering, *, load_seed: int | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self._ordering = ordering
        self._load_seed = load_seed
        self.loading = False

    def compose(self) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Label("Customer", classes="form-label")
            yield Input(placeholder=EXAMPLES["customer_id"], id="customer_id")
            yield Label("Currency", classes="form-label")
            yield Input(value="EUR", id="currency")
        yield Static("", id="error-customer_id", classes="field-error")
        yield Static("", id="error-currency", classes="field-error")
        for row in range(FORM_LINES):
            with Horizontal(classes="form-row"):
                yield Label(f"Line {row + 1}  SKU", classes="form-label")
                yield Input(placeholder=EXAMPLES.get(f"sku-{row}", ""), id=f"sku-{row}")
                yield Label("Qty", classes="form-label-short")
                yield Input(placeholder=EXAMPLES.get(f"quantity-{row}", ""), id=f"quantity-{row}", classes="short")
                yield Label("Price", classes="form-label-short")
                yield Input(placeholder=EXAMPLES.get(f"unit_price-{row}", ""), id=f"unit_price-{row}",
                            classes="short")
            yield Static("", id=f"error-line-{row}", classes="field-error")
        yield Static("", id="error-lines", classes="field-error")
        with Horizontal(classes="form-row"):
            yield Button("Place order", id="place", variant="primary")
            yield Static("", id="place-result")
        with Horizontal(classes="form-row"):
            yield Label("Load: place", classes="form-label")
            yield Input(value="100", id="load-count", classes="short")
            yield Label("random orders", classes="form-label")
            yield Button("Load", id="load")
            yield ProgressBar(id="load-progress", show_eta=False)
        yield Static("", id="error-load", classes="field-error")

    def on_mount(self) -> None:
        # Hidden until a load starts: an idle bar with no total would animate for nothing.
        self.query_one("#load-progress", ProgressBar).display = False

    @property
    def primary(self) -> PlaceOrderPanel:
        # The panel itself, not its first field: number keys still switch panels until tab
        # moves into the form.
        return self

    # -- placing one order ------------------------------------------------------------------

    def _form(self) -> tuple[dict[str, Any], tuple[int, ...]]:
        """The wire JSON of the form, and for each line in it the form row it came from."""
        def value(widget_id: str) -> str:
            return self.query_one(f"#{widget_id}", Input).value

        lines, rows = [], []
        for row in range(FORM_LINES):
            sku, quantity, price = (value(f"{name}-{row}") for name in ("sku", "quantity", "unit_price"))
            if not (sku.strip() or quantity.strip() or price.strip()):
                continue
            lines.append({"sku": sku, "quantity": _quantity(quantity), "unit_price": price.strip()})
            rows.append(row)
        body = {"customer_id": value("customer_id"), "currency": value("currency").strip(), "lines": lines}
        return body, tuple(rows)

    def action_place(self) -> None:
        body, rows = self._form()
        self._clear_errors()
        try:
            command = place_order_from_json(body)
        except ValidationError as exc:
            self._refused(field_errors(exc), rows)
            return
        self._result("placing…")
        self._place(command, rows)

    @work(thread=True, group="place", exit_on_error=False)
    def _place(self, command: PlaceOrder, rows: tuple[int, ...]) -> None:
        try:
            result = self._ordering.send(command)
        except ValidationError as exc:
            self.post_message(self.Refused(field_errors(exc), rows))
        except Exception as exc:  # a refused or failed command is shown in the form, never a crash
            self.post_message(self.Refused([("", str(exc))], rows))
        else:
            self.post_message(self.Placed(result.order_id, result.created))

    def on_place_order_panel_placed(self, message: Placed) -> None:
        verb = "placed" if message.created else "already placed"
        self._result(f"{verb} {message.order_id}")
        self.notify(f"{verb} {message.order_id}", title="Order", markup=False)

    def on_place_order_panel_refused(self, message: Refused) -> None:
        self._refused(message.errors, message.rows)

    def _refused(self, errors: list[tuple[str, str]], rows: tuple[int, ...]) -> None:
        # Whatever the last attempt said ("placed …") is replaced: this one placed nothing.
        count = len(errors)
        self._result(f"not placed: {count} problem{'' if count == 1 else 's'}, marked above", error=True)
        for field, text in errors:
            self._show_error(field, text, rows)

    def _result(self, text: str, *, error: bool = False) -> None:
        result = self.query_one("#place-result", Static)
        result.update(Content(text))
        result.set_class(error, "error")

    def _show_error(self, field: str, text: str, rows: tuple[int, ...]) -> None:
        target = self._target(field, text, rows)
        shown = f"{field}: {text}" if field else text
        box = self.query_one(f"#error-{target}", Static)
        # Two problems on one line (a bad quantity and a bad price) are both listed under it.
        previous = str(box.content) if box.has_class("shown") else ""
        box.update(Content(f"{previous}\n{shown}" if previous else shown))
        box.add_class("shown")
        inputs = {"customer_id": ["customer_id"], "currency": ["currency"]}.get(target)
        if target.startswith("line-"):
            row = target.removeprefix("line-")
            part = field.rsplit(".", 1)[-1]
            names = [part] if part in ("sku", "quantity", "unit_price") else ["sku", "quantity", "unit_price"]
            inputs = [f"{name}-{row}" for name in names]
        for widget_id in inputs or []:
            self.query_one(f"#{widget_id}", Input).add_class("invalid")

    def _target(self, field: str, text: str, rows: tuple[int, ...]) -> str:
        if field in ("customer_id", "currency"):
            return field
        match = _LINE_FIELD.match(field)
        if match and int(match.group(1)) < len(rows):
            return f"line-{rows[int(match.group(1))]}"
        # The aggregate's own checks name the line by its SKU at the start of the message.
        for row in rows:
            sku = self.query_one(f"#sku-{row}", Input).value
            if sku and re.match(re.escape(sku) + r"[: ]", text):
                return f"line-{row}"
        return "lines"

    def _clear_errors(self) -> None:
        for box in self.query(".field-error").results(Static):
            if box.id != "error-load":
                box.update("")
                box.remove_class("shown")
        for field in self.query(Input).results(Input):
            field.remove_class("invalid")

    # -- load ---------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "load" and self.loading:
            return None
        return True

    def action_load(self) -> None:
        box = self.query_one("#error-load", Static)
        text = self.query_one("#load-count", Input).value.strip()
        count = int(text) if text.isdigit() else 0
        if not 1 <= count <= MAX_LOAD:
            box.update(Content(f"load: must be a whole number 1..{MAX_LOAD}, got {text!r}"))
            box.add_class("shown")
            return
        box.update("")
        box.remove_class("shown")
        self.loading = True
        self.refresh_bindings()
        bar = self.query_one("#load-progress", ProgressBar)
        bar.update(total=count, progress=0)
        bar.display = True
        self._load(count)

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def _load(self, count: int) -> None:
        worker = get_current_worker()
        rng = random.Random(self._load_seed)
        placed = failed = 0
        reported = time.monotonic()
        for _ in range(count):
            if worker.is_cancelled:
                break
            try:
                self._ordering.send(place_order_from_json(random_order(rng)))
                placed += 1
            except Exception:  # each refusal is on the feed already; the load goes on
                failed += 1
            if time.monotonic() - reported >= 0.1:
                reported = time.monotonic()
                self.post_message(LoadProgress(placed, failed, count, done=False))
        self.post_message(LoadProgress(placed, failed, count, done=True))

    def on_load_progress(self, message: LoadProgress) -> None:
        self.query_one("#load-progress", ProgressBar).update(total=message.total, progress=message.placed
                                                              + message.failed)
        if message.done:
            self.loading = False
            self.refresh_bindings()
            failed = f", {message.failed} refused" if message.failed else ""
            self._result(f"load: placed {message.placed}{failed}")
            self.notify(f"placed {message.placed} random orders{failed}", title="Load")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "place":
            self.action_place()
        elif event.button.id == "load":
            self.action_load()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "load-count":
            self.action_load()
        else:
            self.action_place()
