"""`orderhex db upgrade` and `orderhex db current`: the SQL store's schema, by hand."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from adapters.outbound.sql.engine import SqlTarget, open_engine
from adapters.outbound.sql.migrate import SchemaState, refuse_newer, schema_state, upgrade

HELP = "the SQL store's schema: `upgrade` it to this orderhex, or show the `current` revision"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("upgrade", "current"), help="upgrade | current")


def run(args: argparse.Namespace, target: SqlTarget | None, out: TextIO | None = None) -> int:
    """`target` is None when the configured storage is not a SQL store."""
    out = out or sys.stdout
    if target is None:
        print("orderhex: db: storage.adapter is not sqlite or postgres; set it to the store to manage",
              file=sys.stderr)
        return 2
    engine = open_engine(target)
    try:
        if args.action == "upgrade":
            before = schema_state(engine, target)
            after = upgrade(engine, target)
            text = (f"{target.shown}: already at {after.head}" if before.up_to_date
                    else f"{target.shown}: upgraded from {before.current or 'an empty schema'} to {after.current}")
            payload = {"database": target.shown, "from": before.current, "to": after.current}
        else:
            state = schema_state(engine, target)
            refuse_newer(state, target)
            text = f"{target.shown}: {_describe(state, target.managed)}"
            payload = {"database": target.shown, "current": state.current, "head": state.head}
    finally:
        engine.dispose()
    print(json.dumps(payload, indent=2) if args.json else text, file=out)
    return 0


def _describe(state: SchemaState, managed: bool) -> str:
    if state.up_to_date:
        return f"{state.current} (head)"
    todo = "upgraded when orderhex next opens it" if managed else "run `orderhex db upgrade`"
    return f"{state.current or 'empty'} (head is {state.head}: {todo})"
