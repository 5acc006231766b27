"""What the package declares: every third-party module the app imports comes from a distribution
pyproject.toml installs (its dependencies, or theirs). An editable install into the dev
environment hides a missing one; a user's `pip install` does not (tests/e2e/test_wheel.py runs
that, slowly; this finds the same gap in a second)."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, packages_distributions, requires
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
OURS = {"core", "ports", "adapters", "tui", "bootstrap", "__future__"}


def _imported_packages() -> set[str]:
    packages = ("core", "ports", "adapters", "tui")
    sources = [ROOT / "bootstrap.py", *(p for package in packages for p in (ROOT / package).rglob("*.py"))]
    names: set[str] = set()
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - OURS


def _installed_by(requirements: list[str]) -> set[str]:
    """The distributions these requirements install, with their own requirements, transitively."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            wanted = requires(name) or []
        except PackageNotFoundError:
            continue
        for raw in wanted:
            child = Requirement(raw)
            extras = requirement.extras or {""}
            if child.marker is None or any(child.marker.evaluate({"extra": extra}) for extra in extras):
                todo.append(child)
    return seen


def test_every_imported_package_is_installed_by_the_declared_dependencies() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    installed = _installed_by(declared)
    providers = packages_distributions()
    undeclared = {name: providers.get(name, ["(not installed)"]) for name in _imported_packages()
                  if not any(canonicalize_name(dist) in installed for dist in providers.get(name, []))}
    assert undeclared == {}, "add these distributions to [project] dependencies"
