"""ForcedStates: where forced breaker states are kept across restarts (the file adapter)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.outbound.file.forced import FileForcedStates
from core.kernel.errors import Unavailable

PORT = "ForcedStates"


def test_nothing_saved_loads_empty(tmp_path: Path) -> None:
    assert FileForcedStates(tmp_path / "breakers.json").load() == {}


def test_a_save_replaces_the_last_and_a_new_instance_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "data" / "breakers.json"
    FileForcedStates(path).save({"http:payments": ("forced-open", "migration"), "http:shipping": ("metrics-only", "x")})
    FileForcedStates(path).save({"http:payments": ("forced-open", "migration")})
    assert FileForcedStates(path).load() == {"http:payments": ("forced-open", "migration")}
    assert [p.name for p in path.parent.iterdir()] == ["breakers.json"]  # no temporary file left behind


def test_an_unreadable_file_is_reported_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "breakers.json"
    path.write_text("{not json")
    with pytest.raises(Unavailable, match=r"breakers\.json"):
        FileForcedStates(path).load()
    path.write_text(json.dumps({"version": 1, "forced": {}}))
    assert FileForcedStates(path).load() == {}
