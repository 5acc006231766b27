"""Parses the command line into commands and queries of the core, and prints the outcome.

Bad input prints exactly one line on stderr and exits 2; a dependency that is down exits 1.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn, Protocol, TextIO

from adapters.inbound.cli.render import render_events, render_order, render_orders, render_ports
from core.kernel.errors import DomainError, Unavailable, ValidationError
from core.kernel.fields import storable_text
from core.kernel.money import parse_amount
from core.orders.commands import ApproveOrder, CancelOrder, PlaceOrder, RejectOrder, ShipOrder
from core.orders.model import OrderStatus
from core.orders.queries import GetOrder, ListOrders
from core.orders.wire import place_order_from_json
from ports.control import Control
from ports.orders import Ordering

EXIT_OK, EXIT_UNAVAILABLE, EXIT_BAD_INPUT = 0, 1, 2


class App(Protocol):
    """What the CLI needs from the running application."""

    ordering: Ordering
    control: Control

    def close(self) -> None: ...


@dataclass(frozen=True)
class ExtraCommand:
    """A subcommand the composition root adds (serve, dashboard, relay...), run with the app.

    `configure` adds its arguments; it is called only when the command line names this
    subcommand, so what it imports costs the other commands nothing."""

    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Any], int]
    needs_app: bool = True


class BadInput(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    # Adds this (sub)parser's arguments the first time it parses or prints its help.
    deferred: Callable[[argparse.ArgumentParser], None] | None = None

    def error(self, message: str) -> NoReturn:
        raise BadInput(message)

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None) -> tuple[argparse.Namespace, list[str]]:
        self._configure()
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self._configure()
        return super().format_usage()

    def format_help(self) -> str:
        self._configure()
        return super().format_help()

    def _configure(self) -> None:
        configure, self.deferred = self.deferred, None
        if configure is not None:
            configure(self)


def run(
    argv: list[str],
    *,
    build: Callable[[str | None], App],
    describe_config: Callable[[str | None], list[tuple[str, Any, str]]],
    extra: Mapping[str, ExtraCommand] | None = None,
    app: App | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run one command line. `app`, when given, is used instead of building one (tests, shells)."""
    out = out or sys.stdout
    err = err or sys.stderr
    extra = dict(extra or {})
    try:
        args = _parser(extra).parse_args(argv)
        _refuse_unreadable(args)
        if args.command is None:
            raise BadInput("a command is required; see orderhex --help")
        if args.command == "config":
            return _print_config(describe_config(args.config), args.json, out)
        if args.command in extra and not extra[args.command].needs_app:
            return extra[args.command].run(args, None)
        owned = app is None
        application = build(args.config) if app is None else app
        try:
            if args.command in extra:
                return extra[args.command].run(args, application)
            return _dispatch(args, application, out)
        finally:
            if owned:
                application.close()
    except (BadInput, ValidationError) as exc:
        print(f"orderhex: error: {exc}", file=err)
        return EXIT_BAD_INPUT
    except Unavailable as exc:
        print(f"orderhex: {exc}", file=err)
        return EXIT_UNAVAILABLE
    except DomainError as exc:
        print(f"orderhex: error: {exc}", file=err)
        return EXIT_BAD_INPUT


def _parser(extra: Mapping[str, ExtraCommand]) -> _Parser:
    parser = _Parser(prog="orderhex", description="An order service in hexagonal architecture.")
    parser.add_argument("--config", metavar="PATH", help="orderhex.toml to read (also ORDERHEX_CONFIG)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def command(name: str, help_text: str) -> _Parser:
        p: _Parser = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--json", action="store_true", help="print JSON for scripts")
        return p

    place = command("place", "place an order")
    place.add_argument("--customer", required=True, help="customer id")
    place.add_argument("--item", action="append", required=True, metavar="SKU:QTY:PRICE",
                       help="an order line, e.g. SKU-1:2:9.99 (repeat for more lines)")
    place.add_argument("--currency", default="EUR", help="ISO 4217 code (default EUR)")
    place.add_argument("--idempotency-key", help="placing again with this key returns the same order")

    show = command("show", "show one order")
    show.add_argument("order_id")
    past = show.add_mutually_exclusive_group()
    past.add_argument("--as-of-version", type=int, metavar="N", help="the order as it was at version N")
    past.add_argument("--as-of", type=_timestamp, metavar="TIMESTAMP",
                      help="the order as it was at this ISO 8601 time, e.g. 2026-01-31T12:00:00+00:00")

    orders = command("orders", "list orders, newest first")
    orders.add_argument("--customer")
    orders.add_argument("--status", type=str.upper, choices=[s.value for s in OrderStatus])
    orders.add_argument("--limit", type=int, default=50)
    orders.add_argument("--cursor", help="continue after a previous page")

    for name, help_text in (("cancel", "cancel an order"), ("reject", "reject a pending order")):
        p = command(name, help_text)
        p.add_argument("order_id")
        p.add_argument("--reason", required=True)
    for name, help_text in (("approve", "approve a pending order"), ("ship", "ship an approved order")):
        command(name, help_text).add_argument("order_id")

    command("history", "print an order's domain events").add_argument("order_id")
    projections = command("projections", "maintain the CQRS read model")
    projections.add_argument("action", choices=["rebuild"], help="rebuild: recompute it from the source of truth")
    command("adapters", "list ports with their active and available adapters")
    command("config", "print the effective configuration and where each value came from")
    for name, spec in extra.items():
        command(name, spec.help).deferred = spec.configure
    return parser


def _dispatch(args: argparse.Namespace, app: App, out: TextIO) -> int:
    ordering = app.ordering
    as_json: bool = args.json
    match args.command:
        case "place":
            result = ordering.send(_place_command(args))
            payload: Any = {"order_id": result.order_id, "created": result.created}
            text = f"{'placed' if result.created else 'already placed'} {result.order_id}"
        case "show":
            if args.as_of_version is not None or args.as_of is not None:
                summary = ordering.as_of(args.order_id, version=args.as_of_version, at=args.as_of)
            else:
                summary = ordering.get(GetOrder(order_id=args.order_id))
            payload, text = render_order(summary)
        case "orders":
            page = ordering.list(ListOrders(customer_id=args.customer,
                                            status=OrderStatus(args.status) if args.status else None,
                                            cursor=args.cursor, limit=args.limit))
            payload, text = render_orders(page)
        case "cancel":
            ordering.send(CancelOrder(order_id=args.order_id, reason=args.reason))
            payload, text = {"order_id": args.order_id, "status": "CANCELLED"}, f"cancelled {args.order_id}"
        case "reject":
            ordering.send(RejectOrder(order_id=args.order_id, reason=args.reason))
            payload, text = {"order_id": args.order_id, "status": "REJECTED"}, f"rejected {args.order_id}"
        case "approve":
            ordering.send(ApproveOrder(order_id=args.order_id))
            payload, text = {"order_id": args.order_id, "status": "APPROVED"}, f"approved {args.order_id}"
        case "ship":
            ordering.send(ShipOrder(order_id=args.order_id))
            payload, text = {"order_id": args.order_id, "status": "SHIPPED"}, f"shipped {args.order_id}"
        case "history":
            payload, text = render_events(ordering.history(args.order_id))
        case "projections":
            count = app.control.rebuild_projections()
            payload, text = {"rebuilt_from": count}, f"read model rebuilt from {count} items"
        case "adapters":
            payload, text = render_ports(app.control.ports())
        case _:
            raise BadInput(f"unknown command {args.command!r}")
    print(json.dumps(payload, indent=2) if as_json else text, file=out)
    return EXIT_OK


def _refuse_unreadable(args: argparse.Namespace) -> None:
    """Bytes on the command line that are not UTF-8 reach Python as lone surrogates, which no store
    can write: refused here, naming the argument, for queries (`show`, `orders --customer`) as for
    commands. A --config path is left alone: a file name need not be UTF-8."""
    for name, value in vars(args).items():
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and name != "config":
                storable_text(text, name)


def _place_command(args: argparse.Namespace) -> PlaceOrder:
    lines = [_item(raw) for raw in args.item]
    body = {"customer_id": args.customer, "currency": args.currency, "lines": lines}
    return place_order_from_json(body, idempotency_key=args.idempotency_key)


def _item(raw: str) -> dict[str, Any]:
    parts = raw.split(":")
    if len(parts) != 3 or not all(parts):
        raise BadInput(f"--item {raw!r}: expected SKU:QTY:PRICE, e.g. SKU-1:2:9.99")
    sku, quantity, price = parts
    if not quantity.lstrip("-").isdigit():
        raise BadInput(f"--item {raw!r}: quantity {quantity!r} is not a whole number")
    parse_amount(price, f"--item {raw!r} price")
    return {"sku": sku, "quantity": int(quantity), "unit_price": price}


def _timestamp(raw: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{raw!r} is not an ISO 8601 time like 2026-01-31T12:00:00+00:00") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _secret(key: str) -> bool:
    return key.endswith(("token", "key", "password"))


_URL_PASSWORD = re.compile(r"(?P<head>^[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@]*:)(?P<password>[^/?#]+)(?P<at>@)")
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)(?P<password>[^&#]*)", re.IGNORECASE)


def _shown(key: str, value: Any) -> Any:
    """The value as `orderhex config` prints it: secrets as ***, a URL with its password masked
    (postgresql://u:***@host/db, also ?password=***)."""
    if _secret(key) and value:
        return "***"
    if isinstance(value, str) and "://" in value:
        value = _URL_PASSWORD.sub(r"\g<head>***\g<at>", value)
        return _QUERY_PASSWORD.sub(r"\g<head>***", value)
    return value


def _print_config(rows: Sequence[tuple[str, Any, str]], as_json: bool, out: TextIO) -> int:
    if as_json:
        shown = {k: {"value": _shown(k, v), "source": s} for k, v, s in rows}
        print(json.dumps(shown, indent=2), file=out)
        return EXIT_OK
    width = max(len(k) for k, _, _ in rows)
    for key, value, source in rows:
        shown = _shown(key, value)
        text = shown if shown == "***" else json.dumps(shown)
        print(f"{key:<{width}}  {text:<32}  {source}", file=out)
    return EXIT_OK
