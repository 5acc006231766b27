"""The inventory bounded context: stock per SKU, reservations per order."""
