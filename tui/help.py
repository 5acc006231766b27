"""The `?` screen: the keys, and a short tour of what to try."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# orderhex dashboard

| key | does |
| --- | --- |
| `1`…`8` | show a panel (Ports, Orders, Outbox, Feed, Place, Services, Breakers, Sagas) |
| `:` or `ctrl+p` | command palette: switch adapters, pause the relay, load traffic |
| `/` | filter (Orders: customer, Feed: text or kind); `enter` or `esc` leaves the field |
| `esc` | back: close a screen, or leave a field |
| `?` | this help |
| `q` | quit |

**Ports** `s` switches the adapter under the cursor. **Orders** `enter` or `d` opens an
order's lines, totals and history; there `a` approves, `r` rejects, `s` ships and `c` cancels
it (reject and cancel ask why; a step its state forbids is refused, saying why).
**Outbox** `p` pauses the relay, `r` resumes it. **Feed** `p` pauses the scroll and resumes
it, `c` clears. **Place** `ctrl+s` places the form's order, `ctrl+l` places the load
field's number of random orders. **Services** `s` switches the store of the service under the
cursor; below the table, its stock, accounts or shipments (in-process only). **Breakers** `o`
forces the breaker under the cursor open, `c` forced closed, `m` metrics-only, `r` resets it
(each asks why; the row shows the state it would be in meanwhile).

**Sagas** (the flight board) one row per saga, its steps as a strip (✓ done, … in flight,
✗ failed, ↺ compensated, ⤼ skipped, · pending); `t` or `enter` opens its timeline; `r` retries
and `s` skips (asks why) the step in flight, `c` compensates, `p` pauses, `u` resumes; `f` sets
faults per participant (error share, latency, dropped and duplicated replies).

## Tour
- *Trip a circuit breaker:* `7`, move to **local:payments**, `o`, type why and `enter`: the
  row says forced-open, would be closed, and `4` shows the feed's `breaker` line. Back on `7`,
  `r` and a reason: closed again.
- *Watch the outbox drain:* `3`, `p` to pause the relay, `5` then `ctrl+l` to place 100
  orders, `3` again: the backlog and lag grow. `r` and watch them drain to 0.
- *Switch storage:* `1`, move to **storage**, `s`, pick an adapter. The next order goes to
  the new store; switching back shows the old store's orders again.
- *See a switch in the feed:* `4` after a switch: an `adapter_switched` line names the port,
  the old and the new adapter. Type `/` then `adapter` and `enter` to see only those.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape", "dismiss", "Back"), Binding("question_mark", "dismiss", "Back", show=False)]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Markdown(HELP)
