"""The outbox: backlog and lag, rows going from pending to published, and the relay's brake."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Sparkline, Static

from core.kernel.envelope import OutboxRecord
from core.kernel.feed import FeedEvent, FeedKind
from ports.control import OutboxStatus
from tui.tables import Column, FittedTable
from tui.visibility import shown

COLUMNS = (Column("seq", "Seq", 5), Column("state", "State", 9), Column("type", "Event", 14),
           Column("order", "Order", 36, min_width=10, keep_tail=True), Column("created", "Created", 8),
           Column("published", "Published", 9))
BACKLOG_HISTORY = 120


def outbox_row(record: OutboxRecord) -> tuple[str, ...]:
    published = record.published_at
    # The panel shows one service's outbox: its context is known, the bare name fits the column.
    event = record.type.rsplit(".", 1)[-1]
    return (str(record.seq), "pending" if published is None else "published", event, record.aggregate_id,
            f"{record.created_at:%H:%M:%S}", "" if published is None else f"{published:%H:%M:%S}")


def relay_state(status: OutboxStatus) -> str:
    if not status.relay_running:
        return "not running here"
    return "PAUSED" if status.relay_paused else "running"


class OutboxPanel(Vertical):
    """`p` pauses the relay so the backlog grows, `r` resumes it so it drains.

    The counters on the left are the store's (what the outbox holds now); the one on the right is
    what this dashboard saw the relay publish since it opened, which the store cannot say (the
    relay purges published rows)."""

    BINDINGS = [
        Binding("p", "pause_relay", "Pause relay"),
        Binding("r", "resume_relay", "Resume relay"),
    ]

    class RelayToggled(Message):
        def __init__(self, pause: bool) -> None:
            super().__init__()
            self.pause = pause

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.status: OutboxStatus | None = None
        self.published = 0
        self._rows: tuple[OutboxRecord, ...] = ()
        self._backlog: deque[float] = deque([0.0], maxlen=BACKLOG_HISTORY)

    def compose(self) -> ComposeResult:
        with Horizontal(id="outbox-bar"):
            yield Static("outbox: waiting for the first read…", id="outbox-counters")
            yield Static("seen here: 0 published", id="outbox-seen")
        yield Sparkline(list(self._backlog), id="outbox-backlog")
        yield FittedTable(COLUMNS, id="outbox-table", cursor_type="row")

    @property
    def primary(self) -> FittedTable:
        return self.query_one("#outbox-table", FittedTable)

    def count_published(self, events: Iterable[FeedEvent]) -> None:
        """Add up the relay's reports: the outbox itself only knows what is still pending."""
        published = sum(int(e.data.get("count", 0)) for e in events if e.kind is FeedKind.OUTBOX_PUBLISHED)
        if published:
            before = len(str(self.published))
            self.published += published
            # Sized to its text: a layout pass only when the number gains a digit.
            self.query_one("#outbox-seen", Static).update(f"seen here: {self.published} published",
                                                          layout=len(str(self.published)) != before)

    def show(self, status: OutboxStatus, rows: tuple[OutboxRecord, ...]) -> None:
        relay_changed = self.status is None or (self.status.relay_running, self.status.relay_paused) != (
            status.relay_running, status.relay_paused)
        self.status = status
        lag = "-" if status.lag_seconds is None else f"{status.lag_seconds:.1f} s"
        self.query_one("#outbox-counters", Static).update(
            f"pending {status.pending}   lag {lag}   relay {relay_state(status)}", layout=False)
        self._backlog.append(float(status.pending))
        self._rows = rows
        if self.display_rows():
            self.query_one("#outbox-backlog", Sparkline).data = list(self._backlog)
        if relay_changed:
            # Rebuilding the footer is not free: only when what it offers changes.
            self.app.refresh_bindings()

    def display_rows(self) -> bool:
        """Put the newest rows in the table, if the panel is shown (a hidden table is filled on show)."""
        if not shown(self):
            return False
        table = self.primary
        if table.sync({str(r.seq): outbox_row(r) for r in self._rows}):
            table.sort_by("seq", key=int, reverse=True)
        return True

    def on_show(self) -> None:
        self.display_rows()
        self.query_one("#outbox-backlog", Sparkline).data = list(self._backlog)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        status = self.status
        if action == "pause_relay":
            return True if status and status.relay_running and not status.relay_paused else None
        if action == "resume_relay":
            return True if status and status.relay_running and status.relay_paused else None
        return True

    def action_pause_relay(self) -> None:
        self.post_message(self.RelayToggled(pause=True))

    def action_resume_relay(self) -> None:
        self.post_message(self.RelayToggled(pause=False))
