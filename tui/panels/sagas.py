"""The flight board: one row per saga, live, with its steps as a strip, its timeline on enter, the
operator's actions on keys, and fault injection per participant to make every path reachable.

It reads only the SagaOperations port (and the Resilience port for faults). Reads are asked for,
never polled: at mount, by a saga feed event, a changed filter or an operator's action. One read
runs at a time in a thread worker, requests meanwhile fold into one more read, and reads start at
most every REFRESH_EVERY seconds, so a burst of events costs one read. A slow tick (the app's poll
interval) only redraws ages and deadlines from what was read. Workers report with post_message
only: they touch no widget and never block on the event loop, so an app that closes while one runs
is not held by it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Header, Input, Label, Select, Static
from textual.worker import Worker, WorkerState

from core.kernel.feed import FeedEvent, FeedKind
from ports.resilience import Resilience
from ports.sagas import SagaDetail, SagaOperations, SagaView
from tui.keybar import KeyBar
from tui.panels.order_detail import ReasonPrompt
from tui.tables import Column, FittedTable
from tui.visibility import shown

STATES = ("running", "waiting", "retrying", "compensating", "paused", "stuck", "completed", "compensated")
MARKS = {"pending": "·", "in_flight": "…", "retry_wait": "…", "done": "✓", "failed": "✗", "skipped": "⤼",
         "compensating": "…", "compensation_wait": "…", "compensated": "↺", "compensation_failed": "✗"}
# Retry and skip act on the step that is waiting, retrying or being undone, else on the next pending one.
ACTIVE = ("in_flight", "retry_wait", "compensating", "compensation_wait", "compensation_failed")
PARTICIPANTS = ("inventory", "payments", "shipping")
REFRESH_EVERY = 0.3
SHOWN = 200
COLUMNS = (Column("order", "Order", 36, min_width=10, keep_tail=True), Column("mode", "Mode", 5),
           Column("state", "State", 12), Column("steps", "Steps", 6), Column("age", "Age", 6),
           Column("next", "Next deadline", 13))
HISTORY_COLUMNS = (Column("seq", "#", 3), Column("at", "At", 8), Column("step", "Step", 17, min_width=8),
                   Column("attempt", "Try", 3), Column("text", "What happened", 44, min_width=16),
                   Column("ids", "Message ids", 40, min_width=8, keep_tail=True))


def strip(view: SagaView) -> str:
    return "".join(MARKS.get(step.status, "?") for step in view.steps)


def _seconds(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds}s" if seconds < 120 else f"{seconds // 60}m" if seconds < 7200 else f"{seconds // 3600}h"


def saga_row(view: SagaView, now: datetime) -> tuple[str, ...]:
    age = _seconds(max(0.0, (now - view.started_at).total_seconds()))
    due = ""
    if view.next_due is not None:
        left = (view.next_due - now).total_seconds()
        due = f"in {_seconds(left)}" if left >= 0 else f"overdue {_seconds(-left)}"
    return (view.subject, view.mode[:4], view.state, strip(view), age, due)


def acting_step(view: SagaView) -> str | None:
    for wanted in (ACTIVE, ("pending",)):
        for step in view.steps:
            if step.status in wanted:
                return step.name
    return None


class SagasPanel(Vertical):
    """Rows keep their key (the saga id): a read updates changed cells, adds and drops rows."""

    DEFAULT_CSS = """
    SagasPanel #sagas-bar { height: 3; }
    SagasPanel #saga-state-filter { width: 24; }
    SagasPanel #sagas-count { width: 1fr; padding: 1 1 0 1; }
    SagasPanel #sagas-table { height: 1fr; }
    SagasPanel #sagas-legend { height: auto; padding: 0 1; color: $text-muted; }
    SagasPanel #sagas-status { height: auto; padding: 0 1; }
    SagasPanel #sagas-status.error { color: $error; }
    """

    BINDINGS = [
        Binding("enter", "timeline", "Timeline", show=False),
        Binding("t", "timeline", "Timeline"),
        Binding("r", "act('retry')", "Retry"),
        Binding("s", "act('skip')", "Skip"),
        Binding("c", "act('compensate')", "Compensate"),
        Binding("p", "act('pause')", "Pause"),
        Binding("u", "act('resume')", "Resume"),
        Binding("f", "faults", "Faults"),
    ]

    class Loaded(Message):
        def __init__(self, state: str | None, views: list[SagaView] | None, counts: dict[str, int],
                     error: str | None) -> None:
            super().__init__()
            self.state = state
            self.views = views
            self.counts = counts
            self.error = error

    class Acted(Message):
        def __init__(self, text: str, error: str | None) -> None:
            super().__init__()
            self.text = text
            self.error = error

    def __init__(self, sagas: SagaOperations | None, resilience: Resilience | None = None, *,
                 poll_interval: float | None = None, now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 id: str | None = None) -> None:
        """`poll_interval`, when given, redraws ages and deadlines that often while the panel is shown
        (from what was read: the store is read only when something changed)."""
        super().__init__(id=id)
        self.sagas = sagas
        self.resilience = resilience
        self.poll_interval = poll_interval
        self.now = now
        self.views: dict[str, SagaView] = {}
        self.filter: str | None = None
        self.stale = False
        self.reading = False
        self.waiting = False  # a timer will start the next read (reads are spaced REFRESH_EVERY apart)
        self.last_read = float("-inf")
        # Held rather than queried: a timer's callback may run while the panel's children close.
        self.chooser = Select([(state, state) for state in STATES], prompt="any state", id="saga-state-filter")
        self.table = FittedTable(COLUMNS, id="sagas-table", cursor_type="row", zebra_stripes=True)

    def compose(self) -> ComposeResult:
        with Horizontal(id="sagas-bar"):
            yield self.chooser
            yield Static("" if self.sagas else "sagas are not shown here", id="sagas-count")
        yield self.table
        yield Static("· pending  … in flight  ✓ done  ✗ failed  ↺ compensated  ⤼ skipped", id="sagas-legend")
        yield Static("", id="sagas-status")

    @property
    def primary(self) -> FittedTable:
        return self.table

    def on_mount(self) -> None:
        self.request()
        if self.poll_interval is not None:
            self.set_interval(self.poll_interval, self._tick)

    def _tick(self) -> None:
        if self.is_attached and shown(self):
            self._draw()

    def follow(self, events: Iterable[FeedEvent]) -> None:
        """Feed events from the app: a saga event asks for a read."""
        if any(event.kind is FeedKind.SAGA for event in events):
            self.request()

    # -- reading -----------------------------------------------------------------------------

    def request(self) -> None:
        """Read the board again: now if no read runs and the last began REFRESH_EVERY ago, else as
        soon as both hold (requests meanwhile fold into that one read)."""
        if self.sagas is None:
            return
        self.stale = True
        if self.reading or self.waiting:
            return
        wait = self.last_read + REFRESH_EVERY - time.monotonic()
        if wait > 0:
            self.waiting = True
            self.set_timer(wait, self._waited)
            return
        self._start_read()

    def _waited(self) -> None:
        self.waiting = False
        if self.stale and self.is_attached:
            self.request()

    def _start_read(self) -> None:
        # The filter is read from the Select here rather than only on Select.Changed: a value set
        # while the Select is still mounting posts no message, and the board must still follow it.
        chosen = self.chooser.value
        self.filter = chosen if isinstance(chosen, str) else None
        self.stale, self.reading, self.last_read = False, True, time.monotonic()
        self._load(self.sagas, self.filter)

    @work(thread=True, group="sagas-load", exit_on_error=False)
    def _load(self, sagas: SagaOperations, state: str | None) -> None:
        try:
            views, counts = sagas.sagas(state=state, limit=SHOWN), sagas.counts()
        except Exception as exc:  # a store switched away, a lost server: said, and read at the next request
            self.post_message(self.Loaded(state, None, {}, str(exc) or type(exc).__name__))
        else:
            self.post_message(self.Loaded(state, views, counts, None))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # A read that ended without reporting (a bug in it) must not leave the board waiting for it.
        if event.worker.group == "sagas-load" and event.state in (WorkerState.ERROR, WorkerState.CANCELLED):
            self.reading = False

    def on_sagas_panel_loaded(self, message: Loaded) -> None:
        message.stop()
        self.reading = False
        if message.state != self.filter:
            self.stale = True  # read for a filter changed since
        elif message.views is None:
            self._say(f"cannot read sagas: {message.error}", error=True)
        else:
            self.views = {view.saga_id: view for view in message.views}
            counts = "  ".join(f"{state} {n}" for state, n in sorted(message.counts.items()))
            self.query_one("#sagas-count", Static).update(Content(f"{len(self.views)} shown   {counts}"),
                                                          layout=False)
            if shown(self):
                self._draw()
        if self.stale:
            self.request()

    def on_show(self) -> None:
        self._draw()

    def _draw(self) -> None:
        now = self.now()
        table = self.table
        had_rows = table.row_count > 0
        if table.sync({saga_id: saga_row(view, now) for saga_id, view in self.views.items()}):
            table.sort_by("order", reverse=True)
        if had_rows != (table.row_count > 0):
            self.app.refresh_bindings()

    def selected(self) -> SagaView | None:
        table = self.table
        if table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return self.views.get(row_key.value or "")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "faults":
            return True if self.resilience is not None else None
        if action in ("timeline", "act"):
            return True if self.sagas is not None and self.selected() is not None else None
        return True

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.select is self.chooser:
            self.request()

    # -- acting ------------------------------------------------------------------------------

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_timeline()

    def action_timeline(self) -> None:
        view = self.selected()
        if view is not None and self.sagas is not None and not self._covered():
            self.app.push_screen(SagaTimelineScreen(self.sagas, view.saga_id))

    def action_act(self, action: str) -> None:
        view, sagas = self.selected(), self.sagas
        if view is None or sagas is None or self._covered():
            return
        step = acting_step(view) if action in ("retry", "skip") else None
        if action != "skip":
            self._say(f"{action} {view.saga_id}…", error=False)
            self._act(sagas, view.saga_id, action, step, None)
            return

        def answered(reason: str | None) -> None:
            if reason is not None and reason.strip():
                self._say(f"skip {step} of {view.saga_id}…", error=False)
                self._act(sagas, view.saga_id, action, step, reason.strip())
            elif reason is not None:
                self._say(f"skip {step} of {view.saga_id}: a reason is needed, it is kept in the saga's history",
                          error=True)

        self.app.push_screen(ReasonPrompt(f"Skip {step} of saga {view.saga_id}: why?"), answered)

    def _covered(self) -> bool:
        """Another screen (a prompt, a timeline) is open: a key that reached the panel anyway opens
        nothing on top of it."""
        return self.screen is not self.app.screen

    @work(thread=True, group="sagas-act", exit_on_error=False)
    def _act(self, sagas: SagaOperations, saga_id: str, action: str, step: str | None, reason: str | None) -> None:
        try:
            detail = sagas.act(saga_id, action, step, reason)
        except Exception as exc:  # the saga's refusal (or a lost server) is shown, never raised
            self.post_message(self.Acted(f"{action} {saga_id}", str(exc) or type(exc).__name__))
        else:
            self.post_message(self.Acted(f"{action} {saga_id}: now {detail.saga.state}", None))

    def on_sagas_panel_acted(self, message: Acted) -> None:
        message.stop()
        if message.error is not None:
            self._say(f"{message.text} refused: {message.error}", error=True)
            self.notify(message.error, title="Refused", severity="error", markup=False)
        else:
            self._say(message.text, error=False)
        self.request()

    def action_faults(self) -> None:
        if self.resilience is not None and not self._covered():
            self.app.push_screen(FaultsDialog(self.resilience))

    def _say(self, text: str, *, error: bool) -> None:
        status = self.query_one("#sagas-status", Static)
        status.update(Content(text))
        status.set_class(error, "error")


class SagaTimelineScreen(Screen[None]):
    """Every history entry of one saga (time, step, try, message ids) and what is still to run."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back"), Binding("g", "reload", "Reload")]

    class Loaded(Message):
        def __init__(self, detail: SagaDetail | None, error: str | None) -> None:
            super().__init__()
            self.detail = detail
            self.error = error

    def __init__(self, sagas: SagaOperations, saga_id: str) -> None:
        super().__init__()
        self._sagas = sagas
        self.saga_id = saga_id

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="saga-timeline"):
            yield Static(Content(f"Saga {self.saga_id}: loading…"), id="saga-summary")
            yield FittedTable(HISTORY_COLUMNS, id="saga-history", cursor_type="row")
            yield Static("", id="saga-remaining")
        yield KeyBar()

    def on_mount(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="saga-timeline", exit_on_error=False)
    def _load(self) -> None:
        try:
            self.post_message(self.Loaded(self._sagas.saga(self.saga_id), None))
        except Exception as exc:
            self.post_message(self.Loaded(None, str(exc)))

    def on_saga_timeline_screen_loaded(self, message: Loaded) -> None:
        message.stop()
        summary = self.query_one("#saga-summary", Static)
        if message.detail is None:
            summary.update(Content(f"Saga {self.saga_id}: {message.error}"))
            return
        detail, view = message.detail, message.detail.saga
        steps = "  ".join(f"{MARKS.get(s.status, '?')} {s.name} ({s.status}, try {s.attempt})" for s in view.steps)
        summary.update(Content(f"Saga {view.saga_id}  {view.definition}  {view.mode}  {view.state}\n{view.summary}"
                               f"\n{steps}"))
        history = self.query_one("#saga-history", FittedTable)
        history.clear()
        for item in detail.history:
            history.add(str(item.seq), (str(item.seq), f"{item.at:%H:%M:%S}", item.step or "",
                                        "" if item.attempt is None else str(item.attempt), item.text,
                                        " ".join(item.message_ids)))
        remaining = ", ".join(f"{s.name} ({s.command})" for s in detail.remaining) or "nothing"
        self.query_one("#saga-remaining", Static).update(Content(f"still to run: {remaining}"))


class FaultsDialog(ModalScreen[None]):
    """Set a participant's injected faults: a share of failing calls, added latency, dropped and
    duplicated replies. Applied through the Resilience port (the process needs faults.enabled).
    Choosing a participant fills the fields with what it has now."""

    DEFAULT_CSS = """
    FaultsDialog { align: center middle; }
    FaultsDialog #faults-dialog { width: 60; max-width: 100%; height: auto; border: thick $accent;
                                  background: $surface; padding: 0 1; }
    FaultsDialog .fault-row { height: 1; margin: 1 0 0 0; }
    FaultsDialog .fault-row Label { width: 26; }
    FaultsDialog .fault-row Input, FaultsDialog .fault-row Select { width: 1fr; }
    FaultsDialog #faults-now { height: auto; margin: 1 0 0 0; }
    FaultsDialog #faults-now.error { color: $error; }
    FaultsDialog .hint { color: $text-muted; }
    """

    # Priority: in a field, ctrl+d would otherwise delete a character.
    BINDINGS = [Binding("escape", "dismiss", "Close"), Binding("ctrl+s", "apply", "Apply", priority=True),
                Binding("ctrl+d", "clear", "Clear", priority=True)]
    FIELDS = (("error_rate", "error share 0-1"), ("latency", "latency seconds"),
              ("drop_reply_rate", "dropped replies 0-1"), ("duplicate_reply_rate", "duplicated replies 0-1"))

    class Read(Message):
        """Every participant's faults as the port has them, or (`faults` None) why they could not be
        read or set."""

        def __init__(self, faults: dict[str, dict[str, Any]] | None, error: str | None = None) -> None:
            super().__init__()
            self.faults = faults
            self.error = error

    def __init__(self, resilience: Resilience) -> None:
        super().__init__()
        self._resilience = resilience
        self.faults: dict[str, dict[str, Any]] = {}

    def compose(self) -> ComposeResult:
        with Vertical(id="faults-dialog"):
            yield Static("Faults per participant", classes="section-title")
            with Horizontal(classes="fault-row"):
                yield Label("participant")
                yield Select([(p, p) for p in PARTICIPANTS], value=PARTICIPANTS[0], allow_blank=False,
                             id="fault-participant", compact=True)
            for name, label in self.FIELDS:
                with Horizontal(classes="fault-row"):
                    yield Label(label)
                    yield Input(value="0", placeholder=label, id=f"fault-{name}", compact=True)
            yield Static("reading…", id="faults-now")
            yield Static("ctrl+s or enter applies · ctrl+d clears · esc closes", classes="hint")

    def on_mount(self) -> None:
        self._read()

    @work(thread=True, group="faults", exit_on_error=False)
    def _read(self) -> None:
        try:
            self.post_message(self.Read(self._resilience.faults()))
        except Exception as exc:  # a lost server: said in the dialog
            self.post_message(self.Read(None, f"cannot read faults: {exc}"))

    def on_faults_dialog_read(self, message: Read) -> None:
        message.stop()
        if message.faults is None:
            self._say(message.error or "", error=True)
            return
        self.faults = message.faults
        self._show()

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._show()

    def _show(self) -> None:
        """The chosen participant's faults, in the fields and in words."""
        participant = self._participant()
        current = self.faults.get(participant, {})
        for name, _ in self.FIELDS:
            self.query_one(f"#fault-{name}", Input).value = f"{current.get(name, 0):g}"
        words = ", ".join(f"{name} {value:g}" for name, value in current.items() if value) or "no faults"
        self._say(f"{participant}: {words}", error=False)

    def _say(self, text: str, *, error: bool) -> None:
        now = self.query_one("#faults-now", Static)
        now.update(Content(text))
        now.set_class(error, "error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_apply()

    def _participant(self) -> str:
        value = self.query_one("#fault-participant", Select).value
        return value if isinstance(value, str) else PARTICIPANTS[0]

    def action_apply(self) -> None:
        settings: dict[str, object] = {}
        for name, _ in self.FIELDS:
            text = self.query_one(f"#fault-{name}", Input).value.strip() or "0"
            try:
                settings[name] = float(text)
            except ValueError:
                settings[name] = text  # the port refuses it, naming the field
        self._set(self._participant(), settings)

    def action_clear(self) -> None:
        self._set(self._participant(), None)

    @work(thread=True, group="faults", exit_on_error=False)
    def _set(self, participant: str, settings: dict[str, object] | None) -> None:
        try:
            if settings is None:
                self._resilience.clear_fault(participant)
            else:
                self._resilience.set_fault(participant, settings)
            self.post_message(self.Read(self._resilience.faults()))
        except Exception as exc:  # faults off, a bad value, a lost server: shown, never raised
            self.post_message(self.Read(None, f"refused: {exc}"))
