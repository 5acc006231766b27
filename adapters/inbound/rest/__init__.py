"""The REST inbound adapter: orders over HTTP, health and metrics, the admin API, `orderhex serve`."""
