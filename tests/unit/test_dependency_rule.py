"""The dependency rule at run time, beyond what import-linter sees.

import-linter checks package-to-package imports; these tests add what it cannot: that the
hexagon (core and ports) imports nothing outside the standard library (not even a new
third-party package nobody thought to forbid), and that nothing imports bootstrap (a module
import-linter cannot hold).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_hexagon_imports_only_the_standard_library_core_and_ports() -> None:
    allowed = set(sys.stdlib_module_names) | {"core", "ports", "__future__"}
    offenders = {str(p.relative_to(ROOT)): sorted(_imports(p) - allowed)
                 for package in ("core", "ports") for p in (ROOT / package).rglob("*.py")}
    assert {p: names for p, names in offenders.items() if names} == {}


def test_importing_the_hexagon_loads_no_third_party_module() -> None:
    code = (
        "import sys, pkgutil, importlib, core, ports\n"
        "for p in (core, ports):\n"
        "    for m in pkgutil.walk_packages(p.__path__, p.__name__ + '.'): importlib.import_module(m.name)\n"
        "std = set(sys.stdlib_module_names) | {'core', 'ports', '__main__'}\n"
        "print(sorted({n.split('.')[0] for n in sys.modules} - std))\n"
    )
    # -S: without site, no editable-install finder is loaded, so whatever else appears came from core.
    out = subprocess.run([sys.executable, "-S", "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_nothing_imports_bootstrap() -> None:
    offenders = [str(p.relative_to(ROOT)) for package in ("core", "ports", "adapters", "tui")
                 for p in (ROOT / package).rglob("*.py") if "bootstrap" in _imports(p)]
    assert offenders == []
