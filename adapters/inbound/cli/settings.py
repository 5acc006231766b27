"""Configuration: defaults <- orderhex.toml <- ORDERHEX_* environment variables <- overrides.

The file is `--config PATH`, else the file ORDERHEX_CONFIG names, else ./orderhex.toml when the
working directory has one, else none.

Every setting is typed and range-checked when it is read, so a bad value fails at start, naming
the key, the value, where it came from and what is allowed. The table of settings belongs to
the composition root; this module only reads and checks against it.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "ORDERHEX_"
# Variables with this prefix belong to the test suite and tools, not to the service.
ENV_IGNORED_PREFIXES = ("ORDERHEX_TEST_", "ORDERHEX_CONFIG")
CONFIG_ENV = "ORDERHEX_CONFIG"
# Read from the working directory when neither --config nor ORDERHEX_CONFIG names a file.
LOCAL_CONFIG = "orderhex.toml"
# Where each way of naming the file is reported (a missing or unreadable file names it).
_FILE_SOURCES = {"command line": "--config", f"env {CONFIG_ENV}": CONFIG_ENV, "working directory": LOCAL_CONFIG}


def default_data_dir(env: Mapping[str, str] | None = None) -> str:
    """The one default data directory of every command: $XDG_DATA_HOME/orderhex, else
    ~/.local/share/orderhex (the XDG base directory rule; a relative XDG_DATA_HOME is ignored)."""
    env = os.environ if env is None else env
    base = env.get("XDG_DATA_HOME", "")
    return str(Path(base) / "orderhex") if os.path.isabs(base) else "~/.local/share/orderhex"


class ConfigError(Exception):
    """A setting with a bad value: names the key, the value, where it came from and what is allowed."""

    def __init__(self, key: str, value: Any, allowed: str, source: str) -> None:
        super().__init__(f"config {key} = {value!r} (from {source}) is not allowed; allowed: {allowed}")
        self.key = key


class UnknownSetting(ConfigError):
    """A key no setting has. Its value is never shown: a misnamed key is often a secret put under the
    wrong name (ORDERHEX_ADMIN_TOKEN for api.admin_token), and the error goes to terminals and logs."""

    def __init__(self, key: str, source: str, known: Sequence[str]) -> None:
        Exception.__init__(self, f"config {key} (from {source}) is not a setting (its value is not shown). "
                                 f"{_suggestion(key, source, known)}`orderhex config` lists every setting")
        self.key = key


def _suggestion(key: str, source: str, known: Sequence[str]) -> str:
    """'Did you mean ...? ' naming the closest settings, spelt the way `source` spells keys."""
    leaf = key.rpartition(".")[2]
    same_leaf = [k for k in known if k.rpartition(".")[2] == leaf]
    close = same_leaf or difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if not close:
        return ""
    names = [f"{k} ({ENV_PREFIX}{k.upper().replace('.', '__')})" if source.startswith("env ") else k
             for k in close]
    return f"Did you mean {' or '.join(names)}? "


@dataclass(frozen=True)
class Setting:
    default: Any
    choices: tuple[str, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None
    help: str = ""
    # A comma-separated list, each item one of these (TOML may give a list instead).
    items: tuple[str, ...] | None = None

    def parse(self, key: str, value: Any, source: str) -> Any:
        if self.items is not None:
            return self._parse_items(key, value, source)
        if isinstance(self.default, bool):
            if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
                return value.lower() in ("true", "1")
            if not isinstance(value, bool):
                raise ConfigError(key, value, "true or false", source)
            return value
        if isinstance(self.default, int):
            try:
                number = int(value) if not isinstance(value, bool) else None
            except (TypeError, ValueError):
                number = None
            low = self.minimum or 0
            if number is None or number < low or (self.maximum is not None and number > self.maximum):
                upper = f"..{self.maximum}" if self.maximum is not None else " or more"
                raise ConfigError(key, value, f"a whole number {low}{upper}", source)
            return number
        if not isinstance(value, str):
            raise ConfigError(key, value, "a string", source)
        if self.choices is not None and value not in self.choices:
            raise ConfigError(key, value, " | ".join(self.choices), source)
        return value

    def _parse_items(self, key: str, value: Any, source: str) -> str:
        assert self.items is not None
        given = value if isinstance(value, list) else str(value).split(",") if isinstance(value, str) else None
        names = [str(item).strip() for item in given or ()]
        allowed = f"a comma-separated list of {', '.join(self.items)} (each at most once)"
        if not names or any(n not in self.items for n in names) or len(set(names)) != len(names):
            raise ConfigError(key, value, allowed, source)
        return ",".join(names)


@dataclass
class Config:
    """The effective configuration: every setting's value and where it came from."""

    values: dict[str, Any]
    sources: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def set(self, key: str, value: Any, source: str) -> None:
        self.values[key] = value
        self.sources[key] = source

    @property
    def data_dir(self) -> Path:
        return Path(self.values["data_dir"]).expanduser()


def load_config(table: Mapping[str, Setting], path: Path | None = None, env: Mapping[str, str] | None = None,
                overrides: Mapping[str, Any] | None = None, *, path_source: str = "command line") -> Config:
    """Defaults, then the TOML file, then ORDERHEX_* variables, then explicit overrides."""
    env = os.environ if env is None else env
    config = Config({k: s.default for k, s in table.items()}, {k: "default" for k in table})
    if path is not None:
        for key, value in _read_toml(path, path_source).items():
            _set(table, config, key, value, f"file {path}")
    for name, value in sorted(env.items()):
        if not name.startswith(ENV_PREFIX) or name.startswith(ENV_IGNORED_PREFIXES):
            continue
        key = name.removeprefix(ENV_PREFIX).lower().replace("__", ".")
        _set(table, config, key, value, f"env {name}")
    for key, value in (overrides or {}).items():
        _set(table, config, key, value, "override")
    return config


def load_from(table: Mapping[str, Setting], config_path: str | None,
              overrides: Mapping[str, Any] | None = None, *, cwd: Path | None = None) -> Config:
    """The configuration from `--config PATH`, else ORDERHEX_CONFIG, else ./orderhex.toml if the
    working directory (`cwd`) has one; then the environment and `overrides` on top."""
    if config_path:
        return load_config(table, Path(config_path), overrides=overrides)
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return load_config(table, Path(from_env), overrides=overrides, path_source=f"env {CONFIG_ENV}")
    local = (Path.cwd() if cwd is None else cwd) / LOCAL_CONFIG
    if local.is_file():
        return load_config(table, local.absolute(), overrides=overrides, path_source="working directory")
    return load_config(table, None, overrides=overrides)


def _set(table: Mapping[str, Setting], config: Config, key: str, value: Any, source: str) -> None:
    setting = table.get(key)
    if setting is None:
        raise UnknownSetting(key, source, list(table))
    config.set(key, setting.parse(key, value, source), source)


def _read_toml(path: Path, source: str) -> dict[str, Any]:
    what = _FILE_SOURCES.get(source, "--config")
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(what, str(path), "an existing TOML file", source) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(what, str(path), f"valid TOML ({exc})", source) from exc
    flat: dict[str, Any] = {}

    def walk(prefix: str, node: Mapping[str, Any]) -> None:
        for key, value in node.items():
            full = f"{prefix}{key}"
            if isinstance(value, Mapping):
                walk(full + ".", value)
            else:
                flat[full] = value

    walk("", data)
    return flat
