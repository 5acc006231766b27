"""Random orders for the "load" action, in the wire format every inbound adapter speaks."""

from __future__ import annotations

import random
from typing import Any

SKUS = ("SKU-APPLE", "SKU-BREAD", "SKU-CHEESE", "SKU-DATES", "SKU-EGGS", "SKU-FLOUR", "SKU-GRAPES")
CUSTOMERS = tuple(f"c-{n}" for n in range(1, 21))


def random_order(rng: random.Random) -> dict[str, Any]:
    skus = rng.sample(SKUS, rng.randint(1, 3))
    return {
        "customer_id": rng.choice(CUSTOMERS),
        "currency": "EUR",
        "lines": [{"sku": sku, "quantity": rng.randint(1, 5), "unit_price": f"{rng.randint(100, 5000) / 100:.2f}"}
                  for sku in skus],
    }
