"""A tiny test-only bounded context (a counter), registered through a descriptor like orders.

It proves that a second context needs no edit to core/kernel, core/runtime, the generic ports or
the stores: everything here is the context's own.
"""
