"""The engine, context-free: message bus, unit-of-work template, group commit, outbox relay,
switchboard, one context's Service and the operations behind the Control port."""
