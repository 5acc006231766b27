"""The `dashboard` subcommand's arguments and entry point. Textual is imported only when the
dashboard opens, so other `orderhex` commands start without it."""

from __future__ import annotations

import argparse
import os

from ports.control import Control
from ports.instances import Instances
from ports.inventory import Inventory
from ports.orders import Ordering
from ports.overview import Overviews
from ports.payments import Payments
from ports.resilience import Resilience
from ports.sagas import SagaOperations
from ports.shipping import Shipping

HELP = "open the live terminal dashboard (in-process, or attached to a running `orderhex serve`)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--attach", metavar="URL", help="watch a running `orderhex serve`, e.g. http://127.0.0.1:8000")
    # The same variable `serve` reads its token from, so one shell can run both.
    parser.add_argument("--token", default=os.environ.get("ORDERHEX_API__ADMIN_TOKEN", ""),
                        help="its admin token (printed by serve at start; default $ORDERHEX_API__ADMIN_TOKEN)")
    parser.add_argument("--api-key", default="", help="its API key, when the order endpoints require one")


def run_app(ordering: Ordering, control: Control, *, source: str, notice: str | None = None,
            inventory: Inventory | None = None, payments: Payments | None = None,
            shipping: Shipping | None = None, resilience: Resilience | None = None,
            sagas: SagaOperations | None = None, instances: Instances | None = None,
            overviews: Overviews | None = None) -> int:
    """Open the dashboard; the inventory, payments and shipping ports (in-process only) let its
    Services panel show stock, accounts and shipments; `resilience` feeds its Breakers panel and
    `sagas` its flight board; `overviews` the order detail's parts."""
    from tui.app import DashboardApp

    app = DashboardApp(ordering, control, inventory=inventory, payments=payments, shipping=shipping,
                       source=source, notice=notice, resilience=resilience, sagas=sagas, instances=instances,
                       overviews=overviews)
    app.run()
    return app.return_code or 0
