"""The event feed: every system event, newest at the bottom, with a filter and a pause."""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, RichLog, Static

from core.kernel.feed import FeedEvent, FeedKind
from tui.filter_input import FilterInput
from tui.messages import FeedBatch
from tui.visibility import shown

# The log keeps this many lines; the panel remembers more events so a new filter has
# something to show. Both are caps: memory stays bounded whatever the event rate.
LOG_LINES = 1000
KEPT_EVENTS = 5000
# A burst bigger than this is written as its newest lines plus one line saying how many were
# folded: nobody reads 2,000 lines a second, and writing them would starve the key presses.
LINES_PER_BATCH = 30
# What a filter change, a resume or a return to the tab redraws: a few screens, not the whole history.
REWRITE_LINES = 200

KIND_STYLE = {
    FeedKind.COMMAND: "cyan",
    FeedKind.DOMAIN_EVENT: "green",
    FeedKind.OUTBOX_PUBLISHED: "bright_green",
    FeedKind.RELAY_LAG: "magenta",
    FeedKind.ADAPTER_SWITCHED: "bold bright_blue",
    FeedKind.ERROR: "bold red",
}


def feed_line(event: FeedEvent) -> Text:
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(f"{event.at:%H:%M:%S} ", style="dim")
    line.append(f"{event.kind.value:<16} ", style=KIND_STYLE.get(event.kind, ""))
    line.append(event.text)
    return line


def matches(event: FeedEvent, needle: str) -> bool:
    return not needle or needle in event.text.lower() or needle in event.kind.value


class FeedPanel(Vertical):
    """Shows FeedBatch messages as they come; `/` filters by text or kind, `p` pauses the scroll.

    Paused, the log holds what it showed: a filter typed meanwhile applies to the events that had
    arrived when it was paused, and resuming catches up with the rest."""

    BINDINGS = [
        Binding("slash", "filter", "Filter"),
        # One key, two labels: the key bar offers the one that applies now.
        Binding("p", "pause", "Pause feed"),
        Binding("p", "resume", "Resume feed"),
        Binding("c", "clear", "Clear"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._events: deque[FeedEvent] = deque(maxlen=KEPT_EVENTS)
        self._last_seq = 0
        self._needle = ""
        self._folded = 0
        self.paused = False
        # The newest seq shown when the feed was paused: what a filter typed while paused may show.
        self._paused_at = 0
        self.received = 0
        # Events arrived that the log does not show yet (paused, or in a hidden tab).
        self._stale = False

    def compose(self) -> ComposeResult:
        with Horizontal(id="feed-bar"):
            yield FilterInput(placeholder="/ filter by text or kind", id="feed-filter")
            yield Static("", id="feed-state")
        yield RichLog(id="feed-log", max_lines=LOG_LINES, wrap=False, markup=False, auto_scroll=True)

    @property
    def primary(self) -> RichLog:
        return self.query_one("#feed-log", RichLog)

    def add(self, batch: FeedBatch) -> list[FeedEvent]:
        """Show the batch's events not seen before (a replayed backlog overlaps the live stream); returns them."""
        fresh = [e for e in batch.events if e.seq > self._last_seq]
        if fresh:
            self._last_seq = fresh[-1].seq
        self._events.extend(fresh)
        self.received += len(fresh)
        self._folded += batch.dropped
        if self.paused or not shown(self):
            self._stale = self._stale or bool(fresh)
        else:
            self._write([e for e in fresh if matches(e, self._needle)])
        self._show_state()
        return fresh

    def _write(self, events: list[FeedEvent]) -> None:
        folded = self._folded + max(0, len(events) - LINES_PER_BATCH)
        self._folded = 0
        lines = [feed_line(e) for e in events[-LINES_PER_BATCH:]]
        if folded:
            lines.insert(0, Text(f"… {folded} events folded (burst)", style="dim italic"))
        self._write_lines(lines)

    def _write_lines(self, lines: list[Text]) -> None:
        # One write per batch: RichLog's cost is mostly per call, not per line.
        if lines:
            self.primary.write(Text("\n").join(lines))

    def _rewrite(self) -> None:
        self.primary.clear()
        self._stale = False
        held = [e for e in self._events if not self.paused or e.seq <= self._paused_at]
        self._write_lines([feed_line(e) for e in held if matches(e, self._needle)][-REWRITE_LINES:])

    def on_show(self) -> None:
        if self._stale and not self.paused:
            self._rewrite()
        # Lines written while the tab was hidden were laid out with no height: show the newest.
        self.call_after_refresh(self.primary.scroll_end, animate=False)

    def _show_state(self) -> None:
        # Short enough for its fixed-width box at any count; how to resume is on the log's border,
        # where the eye is while reading a paused feed, and in the key bar.
        state = f"{self.received} events" + (" · PAUSED" if self.paused else "")
        self.query_one("#feed-state", Static).update(state, layout=False)
        self.primary.border_title = "PAUSED (p resumes)" if self.paused else None

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "feed-filter":
            event.stop()
            self._needle = event.value.strip().lower()
            self._rewrite()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "feed-filter":
            event.stop()
            self.primary.focus()

    def action_filter(self) -> None:
        self.query_one("#feed-filter", Input).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "filter":
            # In the filter, `/` is text: the key bar offers only what leaves it.
            return not self.query_one("#feed-filter", Input).has_focus
        if action == "pause":
            return not self.paused
        if action == "resume":
            return self.paused
        return True

    def action_pause(self) -> None:
        self.paused = True
        self._paused_at = self._last_seq
        self._show_state()
        self.refresh_bindings()

    def action_resume(self) -> None:
        self.paused = False
        self._rewrite()
        self._show_state()
        self.refresh_bindings()

    def action_clear(self) -> None:
        self._events.clear()
        self.primary.clear()
