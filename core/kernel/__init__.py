"""Types every bounded context shares: messages, envelopes, aggregates, views, errors, the feed.

Standard library only; knows no context and no port.
"""
