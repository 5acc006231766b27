"""The dependency rule at run time, beyond what import-linter sees.

import-linter checks package-to-package imports; these tests add what it cannot: that core
imports nothing outside the standard library (not even a new third-party package nobody
thought to forbid), and that nothing imports bootstrap (a module import-linter cannot hold).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path, skip_type_checking: bool) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    skipped: set[int] = set()
    if skip_type_checking:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
                skipped.update(id(n) for inner in node.body for n in ast.walk(inner))
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_core_imports_only_the_standard_library_and_core_at_run_time() -> None:
    allowed = set(sys.stdlib_module_names) | {"core", "__future__"}
    offenders = {str(p.relative_to(ROOT)): sorted(_imports(p, skip_type_checking=True) - allowed)
                 for p in (ROOT / "core").rglob("*.py")}
    assert {p: names for p, names in offenders.items() if names} == {}


def test_importing_core_loads_no_third_party_module() -> None:
    code = (
        "import sys, pkgutil, importlib, core\n"
        "for m in pkgutil.walk_packages(core.__path__, 'core.'): importlib.import_module(m.name)\n"
        "std = set(sys.stdlib_module_names) | {'core', '__main__'}\n"
        "print(sorted({n.split('.')[0] for n in sys.modules} - std))\n"
    )
    # -S: without site, no editable-install finder is loaded, so whatever else appears came from core.
    out = subprocess.run([sys.executable, "-S", "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_nothing_imports_bootstrap() -> None:
    offenders = [str(p.relative_to(ROOT)) for package in ("core", "ports", "adapters", "tui")
                 for p in (ROOT / package).rglob("*.py") if "bootstrap" in _imports(p, skip_type_checking=False)]
    assert offenders == []
