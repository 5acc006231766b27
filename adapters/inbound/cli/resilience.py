"""`orderhex breakers ...` and `orderhex faults ...`: operate circuit breakers and injected faults.

    orderhex breakers list [--json]
    orderhex breakers force-open|force-closed|metrics-only|reset NAME --reason WHY
    orderhex faults list [--json]
    orderhex faults set SERVICE [--error-rate 0.5] [--latency 2s] [--timeout-rate R] [--drop-reply-rate R]
    orderhex faults clear SERVICE

With `--url` (and the admin `--token` it printed at start) against a running `orderhex serve`.
Breakers without it act on this data directory (a forced state is kept there for the next start);
faults always need it: they live in the serving process's memory.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any, TextIO

from core.kernel.errors import ValidationError
from core.runtime.faults import FaultSettings
from ports.resilience import Resilience

BREAKER_ACTIONS = ("force-open", "force-closed", "metrics-only", "reset")
_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m)?\s*$")


def parse_duration(text: str, field: str = "--latency") -> float:
    """`2s`, `500ms`, `1.5` (seconds), `1m` -> seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise ValidationError(field, f"must be a duration like 2s, 500ms or 1.5, got {text!r}")
    value, unit = float(match.group(1)), match.group(2) or "s"
    return value * {"ms": 0.001, "s": 1.0, "m": 60.0}[unit]


def _rate(text: str) -> float:
    try:
        value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a share 0..1 (or a percentage like 50%), got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text!r}")
    return value


def _attach(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="a running `orderhex serve` (e.g. http://127.0.0.1:8000); default: this "
                                      "data directory")
    parser.add_argument("--token", help="its admin token (printed at its start, or api.admin_token)")
    parser.add_argument("--api-key", default="", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print JSON")


def configure_breakers(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    _attach(actions.add_parser("list", help="every breaker: state, would-be state, rates"))
    for action in BREAKER_ACTIONS:
        sub = actions.add_parser(action, help=f"{action.replace('-', ' ')} a breaker")
        sub.add_argument("name", help="the breaker, e.g. http:payments")
        sub.add_argument("--reason", required=True, help="why, for whoever looks next")
        _attach(sub)


def configure_faults(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    _attach(actions.add_parser("list", help="the fault setting of each service that has one"))
    set_ = actions.add_parser("set", help="inject faults into a service's incoming calls (needs "
                                          "faults.enabled = true on the server)")
    set_.add_argument("service")
    set_.add_argument("--error-rate", type=_rate, default=0.0, help="share of calls failing with 503")
    set_.add_argument("--latency", default="0s", help="added to every call: 2s, 500ms")
    set_.add_argument("--timeout-rate", type=_rate, default=0.0, help="share of calls held until the caller "
                                                                      "gives up")
    set_.add_argument("--drop-reply-rate", type=_rate, default=0.0, help="share of calls done but not answered")
    _attach(set_)
    clear = actions.add_parser("clear", help="stop injecting faults into a service")
    clear.add_argument("service")
    _attach(clear)


def run_breakers(args: argparse.Namespace, resilience: Resilience, out: TextIO) -> int:
    if args.action == "list":
        snapshots = resilience.breakers()
        if args.json:
            print(json.dumps(snapshots, indent=2), file=out)
        elif not snapshots:
            print("no breakers yet (one appears at a service's first call to another)", file=out)
        for snap in snapshots if not args.json else ():
            print(describe(snap), file=out)
        return 0
    snapshot = getattr(resilience, args.action.replace("-", "_"))(args.name, args.reason)
    print(json.dumps(snapshot, indent=2) if args.json else describe(snapshot), file=out)
    return 0


def run_faults(args: argparse.Namespace, resilience: Resilience, out: TextIO) -> int:
    if not args.url:
        # Faults live in the memory of the process that serves: set here, they would change nothing.
        raise ValidationError("--url", "faults act inside a running `orderhex serve` (started with faults.enabled "
                                       "= true): give its --url and admin --token")
    if args.action == "list":
        faults = resilience.faults()
        if args.json:
            print(json.dumps(faults, indent=2), file=out)
        elif not faults:
            print("no faults injected", file=out)
        for service, settings in faults.items() if not args.json else ():
            print(f"{service}: {_settings_text(settings)}", file=out)
        return 0
    if args.action == "clear":
        resilience.clear_fault(args.service)
        print(f"{args.service}: no faults", file=out)
        return 0
    settings = {"error_rate": args.error_rate, "latency": parse_duration(args.latency),
                "timeout_rate": args.timeout_rate, "drop_reply_rate": args.drop_reply_rate}
    result = resilience.set_fault(args.service, settings)
    print(json.dumps(result, indent=2) if args.json else f"{args.service}: {_settings_text(result)}", file=out)
    return 0


def describe(snapshot: dict[str, Any]) -> str:
    """`http:payments  open  (would be open)  failures 100%  slow 0%  calls 20  in flight 0  reason`"""
    rate = snapshot.get("failure_rate")
    slow = snapshot.get("slow_call_rate")
    parts = [f"{snapshot['name']:<18}", f"{snapshot['state']:<13}", f"would be {snapshot.get('would_be', '?'):<10}",
             f"failures {_percent(rate)}", f"slow {_percent(slow)}", f"calls {snapshot.get('calls', 0)}",
             f"in flight {snapshot.get('in_flight', 0)}"]
    if snapshot.get("next_probe_at"):
        parts.append(f"probe at {snapshot['next_probe_at']}")
    if snapshot.get("reason"):
        parts.append(f"({snapshot['reason']})")
    return "  ".join(parts)


def _percent(value: Any) -> str:
    return "-" if value is None else f"{float(value) * 100:.0f}%"


def _settings_text(settings: dict[str, Any]) -> str:
    return FaultSettings.from_json(settings).describe()
