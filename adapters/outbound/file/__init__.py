"""The file storage adapter: one directory holding an append-only JSON-lines journal, an atomically
written snapshot and a writer lock. See storage.py for the layout and the guarantees."""
