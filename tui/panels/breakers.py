"""Breakers: every circuit breaker of the process, its state (and, while an operator holds it, the
state its rules would give), failure and slow-call rates, its window as a sparkline, calls in
flight and the next half-open probe; `o`, `c`, `m` force the selected one open, closed or
metrics-only and `r` resets it, each asking why (the reason is kept with the state and shown).

It reads only the Resilience port (in-process, or a served one's admin API) and the feed: a
`breaker` event re-reads the table at once, and a timer re-reads it while the panel is shown (a
probe time comes near, an open breaker turns half-open, with no event in between).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Static

from core.kernel.feed import FeedEvent, FeedKind
from ports.resilience import Resilience
from tui.panels.order_detail import ReasonPrompt
from tui.tables import Column, FittedTable
from tui.visibility import shown

COLUMNS = (Column("name", "Breaker", 16, min_width=10), Column("state", "State", 13),
           Column("would_be", "Would be", 13), Column("failures", "Fail", 5), Column("slow", "Slow", 5),
           Column("window", "Window", 20, min_width=8, keep_tail=True), Column("in_flight", "In flight", 9),
           Column("probe", "Next probe", 10))
# One character per outcome of the window, oldest first: the newest are on the right.
SPARK = {"ok": "▁", "slow": "▄", "fail": "█", "slow-fail": "█", "rejected": "·"}
NONE = "—"
HINT = "o force open · c force closed · m metrics-only · r reset (each asks why)"
NO_PORT = "no circuit breakers here: this dashboard holds no Resilience port"
NO_BREAKERS = "no breakers yet: one appears at a service's first call to another"
ACTIONS: dict[str, tuple[str, str]] = {  # action -> (port method, what it does, for the prompt)
    "force_open": ("force_open", "Force open"), "force_closed": ("force_closed", "Force closed"),
    "metrics_only": ("metrics_only", "Metrics-only"), "reset": ("reset", "Reset"),
}


def sparkline(recent: Iterable[str]) -> str:
    return "".join(SPARK.get(outcome, "?") for outcome in recent)


def _percent(value: Any) -> str:
    return NONE if value is None else f"{float(value) * 100:.0f}%"


def _clock(value: str | None) -> str:
    return NONE if not value else f"{datetime.fromisoformat(value):%H:%M:%S}"


def breaker_row(snapshot: dict[str, Any]) -> tuple[str, ...]:
    state, would_be = snapshot["state"], snapshot.get("would_be", snapshot["state"])
    return (snapshot["name"], state, NONE if would_be == state else would_be, _percent(snapshot.get("failure_rate")),
            _percent(snapshot.get("slow_call_rate")), sparkline(snapshot.get("recent", ())),
            str(snapshot.get("in_flight", 0)), _clock(snapshot.get("next_probe_at")))


class BreakersPanel(Vertical):
    DEFAULT_CSS = """
    BreakersPanel #breakers-table { height: 1fr; }
    BreakersPanel #breakers-detail { height: auto; padding: 0 1; }
    BreakersPanel #breakers-status { height: auto; padding: 0 1; color: $text-muted; }
    BreakersPanel #breakers-status.ok { color: $success; }
    BreakersPanel #breakers-status.error { color: $error; }
    """

    BINDINGS = [
        Binding("o", "act('force_open')", "Force open"),
        Binding("c", "act('force_closed')", "Force closed"),
        Binding("m", "act('metrics_only')", "Metrics-only"),
        Binding("r", "act('reset')", "Reset"),
    ]

    class Read(Message):
        """The breakers' snapshots, read in a worker (`error` says why they could not be)."""

        def __init__(self, snapshots: list[dict[str, Any]], error: str | None = None) -> None:
            super().__init__()
            self.snapshots = snapshots
            self.error = error

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, BreakersPanel.Read)

    class Acted(Message):
        """An operator's action on a breaker: its snapshot after it, or why it was refused."""

        def __init__(self, name: str, what: str, snapshot: dict[str, Any] | None, error: str | None) -> None:
            super().__init__()
            self.name = name
            self.what = what
            self.snapshot = snapshot
            self.error = error

    def __init__(self, resilience: Resilience | None, *, poll_interval: float | None = 1.0,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.resilience = resilience
        self.poll_interval = poll_interval
        self.snapshots: dict[str, dict[str, Any]] = {}
        self.last_event: dict[str, str] = {}  # breaker -> the newest feed line about it

    def compose(self) -> ComposeResult:
        yield FittedTable(COLUMNS, id="breakers-table", cursor_type="row")
        yield Static("", id="breakers-detail")
        yield Static(HINT if self.resilience is not None else NO_PORT, id="breakers-status")

    @property
    def primary(self) -> FittedTable:
        return self.query_one("#breakers-table", FittedTable)

    def on_mount(self) -> None:
        if self.resilience is not None and self.poll_interval is not None:
            self.set_interval(self.poll_interval, self._tick)

    def on_show(self) -> None:
        self.reload()

    def _tick(self) -> None:
        if shown(self):
            self.reload()

    def feed(self, events: Iterable[FeedEvent]) -> None:
        """The feed's events: a breaker's transition, rejection or reconfiguration re-reads the table."""
        fresh = [e for e in events if e.kind == FeedKind.BREAKER]
        for event in fresh:
            name = str((event.data or {}).get("breaker") or (event.data or {}).get("name") or "")
            if name:
                self.last_event[name] = event.text
        if fresh:
            self.reload()

    # -- reading -----------------------------------------------------------------------------

    def reload(self) -> None:
        if self.resilience is not None:
            self._read(self.resilience)

    @work(thread=True, exclusive=True, group="breakers", exit_on_error=False)
    def _read(self, resilience: Resilience) -> None:
        try:
            snapshots = resilience.breakers()
        except Exception as exc:  # a lost server: said below the table, the panel stays
            self.post_message(self.Read([], str(exc) or type(exc).__name__))
        else:
            self.post_message(self.Read(snapshots))

    def on_breakers_panel_read(self, message: Read) -> None:
        message.stop()
        if message.error is not None:
            self._status(f"breakers could not be read: {message.error}", error=True)
            return
        self.snapshots = {s["name"]: s for s in message.snapshots}
        self.primary.sync({name: breaker_row(s) for name, s in self.snapshots.items()})
        self._show_detail()
        self.refresh_bindings()

    def selected(self) -> dict[str, Any] | None:
        table = self.primary
        if table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return self.snapshots.get(row_key.value or "")

    def _show_detail(self) -> None:
        detail = self.query_one("#breakers-detail", Static)
        snapshot = self.selected()
        if snapshot is None:
            detail.update(NO_BREAKERS if self.resilience is not None else "")
            return
        config = snapshot.get("config") or {}
        lines = [f"{snapshot['name']}: {snapshot['state']} ({snapshot.get('reason') or 'no reason given'})",
                 f"{snapshot.get('calls', 0)} calls in the window · {snapshot.get('successes', 0)} ok · "
                 f"{snapshot.get('failures', 0)} failed · {snapshot.get('rejected', 0)} rejected · opens at "
                 f"{_percent(config.get('failure_rate_threshold'))} failures over "
                 f"{config.get('minimum_calls', '?')}+ calls"]
        if snapshot["name"] in self.last_event:
            lines.append(f"last: {self.last_event[snapshot['name']]}")
        detail.update(Content("\n".join(lines)))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table is self.primary:
            self._show_detail()
            self.refresh_bindings()

    # -- acting ------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "act":
            return True if self.resilience is not None and self.selected() is not None else None
        return True

    def action_act(self, action: str) -> None:
        snapshot = self.selected()
        if self.resilience is None or snapshot is None:
            return
        name = snapshot["name"]
        method, verb = ACTIONS[action]
        resilience = self.resilience

        def answered(reason: str | None) -> None:
            if reason is not None and reason.strip():
                self._status(f"{verb.lower()} {name}…", error=False)
                self._act(lambda: getattr(resilience, method)(name, reason.strip()), name, verb)
            elif reason is not None:
                self._status(f"{verb.lower()} {name}: a reason is needed, for whoever looks next", error=True)

        self.app.push_screen(ReasonPrompt(f"{verb} breaker {name}: why?"), answered)

    @work(thread=True, group="breakers-action", exit_on_error=False)
    def _act(self, call: Callable[[], dict[str, Any]], name: str, verb: str) -> None:
        try:
            snapshot = call()
        except Exception as exc:  # unknown breaker, a refused reason, a lost server: shown, never raised
            self.post_message(self.Acted(name, verb, None, str(exc) or type(exc).__name__))
        else:
            self.post_message(self.Acted(name, verb, snapshot, None))

    def on_breakers_panel_acted(self, message: Acted) -> None:
        message.stop()
        if message.error is not None:
            self._status(f"{message.what.lower()} {message.name} refused: {message.error}", error=True)
            self.notify(message.error, title="Refused", severity="error", markup=False)
        else:
            state = (message.snapshot or {}).get("state", "?")
            self._status(f"{message.name} is now {state}", error=False, ok=True)
        self.reload()

    def _status(self, text: str, *, error: bool, ok: bool = False) -> None:
        status = self.query_one("#breakers-status", Static)
        status.update(Content(text))
        status.set_classes("error" if error else "ok" if ok else "")
