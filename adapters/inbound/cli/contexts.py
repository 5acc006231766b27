"""CLI subcommands of the inventory, payments and shipping contexts, and `orderhex seed`.

    orderhex stock restock SKU QTY | stock show SKU | stock list [--in-stock | --out-of-stock]
    orderhex accounts open CUSTOMER --limit 500.00 [--currency EUR] | accounts show CUSTOMER
    orderhex shipments show ORDER_ID | shipments dispatch ORDER_ID
    orderhex seed

Each reads its input with the context's own wire format, so a bad value gets the same message as
over HTTP or Kafka (one line on stderr, exit 2), and prints text, or JSON with --json.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Protocol

from core.inventory.commands import Restock
from core.inventory.queries import GetStock, ListStock
from core.inventory.wire import restock_from_json
from core.kernel.errors import NotFound
from core.payments.commands import OpenAccount
from core.payments.queries import GetAccount
from core.payments.wire import open_account_from_json
from core.shipping.commands import DispatchShipment
from core.shipping.queries import GetShipment
from ports.inventory import Inventory
from ports.payments import Payments
from ports.shipping import Shipping

# What `orderhex seed` (and a fresh data directory's first start) puts in: enough to place the
# README's orders end to end.
DEMO_STOCK = {"SKU-1": 100, "SKU-2": 100, "SKU-3": 25, "SKU-A": 50}
DEMO_ACCOUNTS = {"c-1": "500.00", "c-2": "200.00", "c-3": "50.00"}


def _actions(parser: argparse.ArgumentParser) -> Any:
    return parser.add_subparsers(dest="action", metavar="ACTION", required=True)


def _action(actions: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    """An action's parser; it takes --json too (`orderhex stock show SKU --json`)."""
    action: argparse.ArgumentParser = actions.add_parser(name, help=help_text, description=help_text)
    action.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON for scripts")
    return action


class ContextsApp(Protocol):
    inventory: Inventory
    payments: Payments
    shipping: Shipping


def configure_stock(parser: argparse.ArgumentParser) -> None:
    actions = _actions(parser)
    restock = _action(actions, "restock", "add stock to a SKU")
    restock.add_argument("sku")
    restock.add_argument("quantity", type=_whole, metavar="QTY")
    _action(actions, "show", "a SKU's stock").add_argument("sku")
    listing = _action(actions, "list", "SKUs, newest first")
    which = listing.add_mutually_exclusive_group()
    which.add_argument("--in-stock", action="store_const", const=True, dest="in_stock")
    which.add_argument("--out-of-stock", action="store_const", const=False, dest="in_stock")
    listing.add_argument("--limit", type=int, default=50)


def run_stock(args: argparse.Namespace, app: ContextsApp) -> int:
    inventory = app.inventory
    if args.action == "restock":
        command = restock_from_json({"sku": args.sku, "quantity": args.quantity})
        inventory.send(command)
        return _print(args, inventory.stock(GetStock(sku=command.sku)).to_json(), _stock_line)
    if args.action == "show":
        return _print(args, inventory.stock(GetStock(sku=args.sku)).to_json(), _stock_line)
    page = inventory.list_stock(ListStock(in_stock=args.in_stock, limit=args.limit))
    rows = [level.to_json() for level in page.items]
    return _print(args, rows, lambda items: "\n".join(_stock_line(i) for i in items) or "no stock")


def configure_accounts(parser: argparse.ArgumentParser) -> None:
    actions = _actions(parser)
    opening = _action(actions, "open", "open a customer's credit account")
    opening.add_argument("customer")
    opening.add_argument("--limit", required=True, help='the credit limit, a decimal string like "500.00"')
    opening.add_argument("--currency", default="EUR")
    _action(actions, "show", "a customer's credit").add_argument("customer")


def run_accounts(args: argparse.Namespace, app: ContextsApp) -> int:
    payments = app.payments
    if args.action == "open":
        command = open_account_from_json({"customer_id": args.customer, "credit_limit": args.limit,
                                          "currency": args.currency})
        payments.send(command)
    return _print(args, payments.account(GetAccount(customer_id=args.customer)).to_json(), _account_line)


def configure_shipments(parser: argparse.ArgumentParser) -> None:
    actions = _actions(parser)
    _action(actions, "show", "an order's shipment").add_argument("order_id")
    _action(actions, "dispatch", "dispatch a scheduled shipment").add_argument("order_id")


def run_shipments(args: argparse.Namespace, app: ContextsApp) -> int:
    shipping = app.shipping
    if args.action == "dispatch":
        shipping.send(DispatchShipment(order_id=args.order_id))
    return _print(args, shipping.shipment(GetShipment(order_id=args.order_id)).to_json(), _shipment_line)


def configure_seed(parser: argparse.ArgumentParser) -> None:
    """`orderhex seed` takes no arguments beyond --json."""


def run_seed(args: argparse.Namespace, app: ContextsApp) -> int:
    added = seed(app.inventory, app.payments)
    return _print(args, added, lambda a: f"seeded {len(a['stock'])} SKU(s) and {len(a['accounts'])} account(s)")


def seed(inventory: Inventory | None, payments: Payments | None) -> dict[str, list[str]]:
    """Demo stock and accounts (of the services given), for what is not there yet: seeding twice
    adds nothing."""
    stocked = []
    for sku, quantity in DEMO_STOCK.items() if inventory is not None else ():
        if not _exists(lambda sku=sku: inventory.stock(GetStock(sku=sku))):
            inventory.send(Restock(sku=sku, quantity=quantity))
            stocked.append(sku)
    opened = [customer for customer, limit in DEMO_ACCOUNTS.items() if payments is not None
              and payments.send(OpenAccount(customer_id=customer, credit_limit=Decimal(limit), currency="EUR"))]
    return {"stock": stocked, "accounts": opened}


def _exists(read: Callable[[], Any]) -> bool:
    try:
        read()
    except NotFound:
        return False
    return True


def _stock_line(level: dict[str, Any]) -> str:
    return f"{level['sku']:<12} on hand {level['on_hand']:>6}  reserved {level['reserved']:>6}  " \
           f"available {level['available']:>6}"


def _account_line(account: dict[str, Any]) -> str:
    return (f"{account['customer_id']}: limit {account['credit_limit']} {account['currency']}, held "
            f"{account['held']}, spent {account['spent']}, available {account['available']}")


def _shipment_line(shipment: dict[str, Any]) -> str:
    where = f" to {shipment['address']}" if shipment["address"] else ""
    why = f" ({shipment['reason']})" if shipment["reason"] else ""
    return f"{shipment['order_id']}: {shipment['status']}{why}, customer {shipment['customer_id']}{where}"


def _print(args: argparse.Namespace, payload: Any, text: Callable[[Any], str]) -> int:
    print(json.dumps(payload, indent=2) if getattr(args, "json", False) else text(payload))
    return 0


def _whole(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
