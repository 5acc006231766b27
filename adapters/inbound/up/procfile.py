"""Reading a Procfile: one `name: command` per line; `#` starts a comment line.

Commands may use `$VAR` / `${VAR}` from the environment (the supervisor sets ORDERHEX_DATA_DIR and
friends), like foreman and honcho do. A process is judged ready when its port answers: an HTTP
`/health` for `orderhex serve`, a TCP connect for anything else started with `--port N`, or
simply still running a moment after start when it names no port.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")


class ProcfileError(Exception):
    """A Procfile that cannot be run: names the file, the line and what is wrong."""


@dataclass(frozen=True)
class Process:
    """`env` is this process's own additions to the supervisor's environment (a copy's ports)."""

    name: str
    command: str
    env: tuple[tuple[str, str], ...] = ()

    def environ(self, base: Mapping[str, str]) -> dict[str, str]:
        return {**base, **dict(self.env)}

    def argv(self, env: Mapping[str, str]) -> list[str]:
        return shlex.split(_expand(self.command, self.environ(env)))

    def port(self, env: Mapping[str, str]) -> int | None:
        found = re.search(r"--port[ =](\d+)", _expand(self.command, self.environ(env)))
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


PORT_STEP = 100  # copy i of a service listens on its ports + 100 * (i - 1)


def with_instances(processes: list[Process], counts: Mapping[str, int], env: Mapping[str, str],
                   own_store: Callable[[str, int], Mapping[str, str]]) -> list[Process]:
    """The processes with `counts[NAME]` copies of service NAME: its `NAME` and `NAME-sidecar` lines
    (and any `NAME-...` line) copied as `NAME.2`, `NAME-sidecar.2`, ..., each copy's `*_PORT`
    variables moved up by PORT_STEP per copy, and its service line given `own_store(NAME, i)`'s
    variables (none today: copies share their service's store)."""
    known = {p.name for p in processes}
    for name, count in counts.items():
        if name not in known:
            raise ProcfileError(f"--instances {name}={count}: the Procfile has no process {name!r} "
                                f"(it has {', '.join(sorted(known))})")
    out = list(processes)
    for name, count in counts.items():
        family = [p for p in processes if p.name == name or p.name.startswith(f"{name}-")]
        for copy in range(2, count + 1):
            for process in family:
                ports = {var: str(_port_value(process, var, env) + PORT_STEP * (copy - 1))
                         for var in _PORT_VARIABLE.findall(process.command)}
                extra = dict(own_store(name, copy)) if process.name == name else {}
                out.append(Process(f"{process.name}.{copy}", process.command, tuple({**ports, **extra}.items())))
    return out


_PORT_VARIABLE = re.compile(r"\$\{?(\w+_PORT)\b")


def _port_value(process: Process, variable: str, env: Mapping[str, str]) -> int:
    found = re.search(r"\$\{" + variable + r"(?::-(\d+))?\}", process.command)
    value = env.get(variable) or (found.group(1) if found else None)
    if value is None or not value.isdigit():
        raise ProcfileError(f"{process.name}: cannot give a copy its own ports: ${variable} is not set and has "
                            f"no default (write ${{{variable}:-8003}})")
    return int(value)


def _expand(command: str, env: Mapping[str, str]) -> str:
    """`$NAME`, `${NAME}` and `${NAME:-default}` from `env`; an unknown name without a default
    stays as written."""
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        default = match.group(2)
        return env.get(name) or (default if default is not None else match.group(0))

    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)", value, command)
