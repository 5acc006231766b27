"""The file storage adapter: one directory holding an append-only JSON-lines journal, an atomically
written snapshot and a writer lock, keeping any context's aggregates and views. See store.py for
the layout and the guarantees, state.py for what a record holds, legacy.py for format 1."""
