"""`orderhex outbox`: the outbox rows the broker refused for good, and what an operator does with them.

    orderhex outbox parked [--json]
    orderhex outbox retry SEQ [--service NAME] [--json]
    orderhex outbox drop SEQ [--service NAME] [--json]

It works on the stores of this configuration directly (the relay of a running `serve` sees the
change at its next round). SEQ is the row's seq in its store; `--service` names the store when
several have that seq parked. A bad SEQ or a row not parked: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import json
from typing import Protocol

from ports.control import Control, ParkedOutboxRow


class OutboxApp(Protocol):
    control: Control


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    _action(actions, "parked", "list the rows the broker refused, waiting for an operator")
    for name, help_text in (("retry", "publish a parked row again (then the rows of its key that waited)"),
                            ("drop", "drop a parked row for good: it is never published")):
        action = _action(actions, name, help_text)
        action.add_argument("seq", type=_seq, metavar="SEQ")
        action.add_argument("--service", help="the service whose store holds the row")


def run(args: argparse.Namespace, app: OutboxApp) -> int:
    as_json = getattr(args, "json", False)
    if args.action == "parked":
        rows = app.control.parked_rows()
        if as_json:
            print(json.dumps([row.to_json() for row in rows], indent=2))
        elif not rows:
            print("no parked outbox rows")
        else:
            print("\n".join(_line(row) for row in rows))
        return 0
    act = app.control.retry_parked if args.action == "retry" else app.control.drop_parked
    row = act(args.seq, args.service)
    done = "retried: the relay publishes it again" if args.action == "retry" else "dropped: it is never published"
    print(json.dumps(row.to_json(), indent=2) if as_json else f"{_line(row)}\n{done}")
    return 0


def _action(actions: argparse._SubParsersAction[argparse.ArgumentParser], name: str,
            help_text: str) -> argparse.ArgumentParser:
    action = actions.add_parser(name, help=help_text, description=help_text)
    action.add_argument("--json", action="store_true", help="print JSON for scripts")
    return action


def _line(row: ParkedOutboxRow) -> str:
    return (f"{row.service} seq {row.seq}: {row.type} key {row.key} to {row.topic or '(default topic)'}, "
            f"{row.payload_bytes} bytes, parked {row.parked_at.isoformat(timespec='seconds')}: {row.reason}")


def _seq(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"SEQ must be a whole number of at least 1, got {text!r}")
    return int(text)
