"""Attach mode: the Ordering and Control ports over a running `orderhex serve` (REST + admin API)."""
