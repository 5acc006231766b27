"""Adapters: everything that touches the world, on either side of the ports."""
