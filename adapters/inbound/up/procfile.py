"""Reading a Procfile: one `name: command` per line; `#` starts a comment line.

Commands may use `$VAR` / `${VAR}` from the environment (the supervisor sets ORDERHEX_DATA_DIR and
friends), like foreman and honcho do. A process is judged ready when its port answers: an HTTP
`/health` for `orderhex serve`, a TCP connect for anything else started with `--port N`, or
simply still running a moment after start when it names no port.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")


class ProcfileError(Exception):
    """A Procfile that cannot be run: names the file, the line and what is wrong."""


@dataclass(frozen=True)
class Process:
    name: str
    command: str

    def argv(self, env: Mapping[str, str]) -> list[str]:
        return shlex.split(_expand(self.command, env))

    def port(self, env: Mapping[str, str]) -> int | None:
        found = re.search(r"--port[ =](\d+)", _expand(self.command, env))
        return int(found.group(1)) if found else None

    @property
    def http(self) -> bool:
        """Whether readiness is an HTTP /health (orderhex's servers) rather than a TCP connect."""
        return " serve" in f" {self.command}" or " gateway" in f" {self.command}" or " sidecar" in f" {self.command}"


def read_procfile(path: Path) -> list[Process]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ProcfileError(f"{path}: cannot read it ({exc.strerror}); run `orderhex up` where the Procfile is, "
                            f"or pass --procfile PATH") from exc
    processes: list[Process] = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _LINE.match(stripped)
        if match is None:
            raise ProcfileError(f"{path}:{number}: expected `name: command`, got {stripped!r}")
        if any(p.name == match.group(1) for p in processes):
            raise ProcfileError(f"{path}:{number}: process {match.group(1)!r} is named twice")
        processes.append(Process(match.group(1), match.group(2)))
    if not processes:
        raise ProcfileError(f"{path}: names no process")
    return processes


def _expand(command: str, env: Mapping[str, str]) -> str:
    """`$NAME`, `${NAME}` and `${NAME:-default}` from `env`; an unknown name without a default
    stays as written."""
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        default = match.group(2)
        return env.get(name) or (default if default is not None else match.group(0))

    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)", value, command)
