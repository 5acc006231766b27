"""One short-lived process for test_across_processes: opens the SQL store, runs one orders
command or query through the orders service, prints the result as JSON, and exits."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path

from adapters.outbound.sql.storage import open_sql_storage
from core.orders.commands import ApproveOrder, LineItem, PlaceOrder
from core.orders.queries import ListOrders
from core.orders.service import OrderingService
from tests.integration.sql.conftest import orders_service

LINES = (LineItem("SKU-1", 2, Decimal("9.99")), LineItem("SKU-2", 1, Decimal("4.50")))


def main(argv: list[str]) -> None:
    adapter, data_dir, url, mode, action, argument = argv
    storage = open_sql_storage(adapter, Path(data_dir), url, mode=mode, snapshot_every=50)
    try:
        ordering = OrderingService(orders_service(storage))
        if action == "place":
            placed = ordering.send(PlaceOrder(customer_id="c-42", currency="EUR", lines=LINES,
                                              idempotency_key=argument))
            result: object = {"order_id": placed.order_id, "created": placed.created}
        elif action == "approve":
            ordering.send(ApproveOrder(order_id=argument))
            result = {"approved": argument}
        else:
            result = [summary.to_json() for summary in ordering.list(ListOrders(customer_id=argument)).items]
    finally:
        storage.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
