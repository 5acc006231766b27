"""The orders bounded context: the Order aggregate, its commands, events and use cases."""
