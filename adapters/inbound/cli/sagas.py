"""`orderhex sagas`: see running sagas and act on them, like the flight board and /admin/sagas.

    orderhex sagas graph place-order                 the definition as Mermaid (needs no store)
    orderhex sagas list [--state S] [--json]
    orderhex sagas show ID [--json]
    orderhex sagas retry ID STEP [--reason R]
    orderhex sagas skip ID STEP --reason R
    orderhex sagas compensate ID [--reason R]
    orderhex sagas pause ID [--reason R]
    orderhex sagas resume ID

With `--url` (and the admin `--token` it printed at start) against a running `orderhex serve`;
without, on this data directory. Bad input, an unknown saga or an action the saga's state
refuses: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from ports.sagas import SagaDetail, SagaOperations, SagaView

STEP_MARKS = {"pending": "·", "in_flight": "…", "retry_wait": "…", "done": "✓", "failed": "✗", "skipped": "⤼",
              "compensating": "…", "compensation_wait": "…", "compensated": "↺", "compensation_failed": "✗"}


def _attach(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="a running `orderhex serve` (e.g. http://127.0.0.1:8000); default: this "
                                      "data directory")
    parser.add_argument("--token", help="its admin token (printed at its start, or api.admin_token)")
    parser.add_argument("--api-key", default="", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    graph = actions.add_parser("graph", help="print a saga definition as a Mermaid flowchart")
    graph.add_argument("definition", metavar="DEFINITION", help="e.g. place-order, cancel-order")
    listing = actions.add_parser("list", help="sagas, newest first: state, steps, next deadline")
    listing.add_argument("--state", help="only sagas in this state: running, waiting, retrying, compensating, "
                                         "paused, stuck, completed, compensated")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    _attach(listing)
    show = actions.add_parser("show", help="one saga: its steps, its timeline, what is still to run")
    show.add_argument("saga_id", metavar="ID")
    _attach(show)
    for name, help_text, step, reason in (
            ("retry", "try a step (or its undo) again now", True, False),
            ("skip", "give up on a step and go on; shown as skipped", True, True),
            ("compensate", "stop going forward and undo what is done (before the pivot only)", False, False),
            ("pause", "send nothing and act on no timer until resumed", False, False),
            ("resume", "handle what arrived while paused, then go on", False, False)):
        action = actions.add_parser(name, help=help_text, description=help_text)
        action.add_argument("saga_id", metavar="ID")
        if step:
            action.add_argument("step", metavar="STEP")
        if name != "resume":
            action.add_argument("--reason", required=reason, help="why, shown in the saga's history")
        _attach(action)


def run(args: argparse.Namespace, sagas: SagaOperations, out: TextIO) -> int:
    if args.action == "graph":
        print(sagas.graph(args.definition), end="", file=out)
        return 0
    if args.action == "list":
        views = sagas.sagas(state=args.state, limit=args.limit)
        if args.json:
            print(json.dumps([view.to_json() for view in views], indent=2), file=out)
        elif not views:
            print("no sagas" + (f" in state {args.state}" if args.state else ""), file=out)
        for view in views if not args.json else ():
            print(row(view), file=out)
        return 0
    if args.action == "show":
        detail = sagas.saga(args.saga_id)
    else:
        detail = sagas.act(args.saga_id, args.action, getattr(args, "step", None), getattr(args, "reason", None))
    print(json.dumps(detail.to_json(), indent=2) if args.json else describe(detail), file=out)
    return 0


def strip(view: SagaView) -> str:
    return "".join(STEP_MARKS.get(step.status, "?") for step in view.steps)


def row(view: SagaView) -> str:
    due = f"  next {view.next_due.isoformat(timespec='seconds')}" if view.next_due else ""
    return f"{view.saga_id}  {view.definition:<12}  {view.state:<12}  {strip(view)}  {view.summary}{due}"


def describe(detail: SagaDetail) -> str:
    view = detail.saga
    lines = [f"saga {view.saga_id} ({view.definition}, {view.mode}) for {view.subject}: {view.state}",
             f"  {view.summary}"]
    if detail.held:
        lines.append(f"  {detail.held} input(s) held until it resumes")
    lines.append("steps:")
    for step in view.steps:
        due = f", due {step.due_at.isoformat(timespec='seconds')}" if step.due_at else ""
        why = f": {step.reason}" if step.reason else ""
        lines.append(f"  {STEP_MARKS.get(step.status, '?')} {step.name:<18} {step.participant:<10} {step.status}"
                     f" (try {step.attempt}{due}){why}")
    lines.append("history:")
    for item in detail.history:
        where = f" {item.step}" + (f" #{item.attempt}" if item.attempt is not None else "") if item.step else ""
        ids = f"  [{', '.join(item.message_ids)}]" if item.message_ids else ""
        lines.append(f"  {item.seq:>3} {item.at.isoformat(timespec='seconds')}{where}: {item.text}{ids}")
    if detail.remaining:
        lines.append("still to run: " + ", ".join(f"{step.name} ({step.command})" for step in detail.remaining))
    return "\n".join(lines)
