"""Ports: the interfaces between the core and the world (typing.Protocol only).

Outbound ports are what the core needs (storage, messaging, time, ids, the feed); inbound
ports are what the application offers (ordering use cases, control). Each docstring is the
contract that tests/contract/ holds every adapter to.
"""
