"""Configuration: defaults <- orderhex.toml <- ORDERHEX_* variables, with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

import bootstrap


def test_file_then_environment_override_the_defaults_and_sources_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "orderhex.toml"
    path.write_text('data_dir = "/srv/x"\n[storage]\norders = "events"\n[api]\nport = 9000\n')
    config = bootstrap.load_config(path, env={"ORDERHEX_API__PORT": "9100", "ORDERHEX_TEST_POSTGRES_URL": "x"})
    assert (config["data_dir"], config["storage.orders"], config["api.port"]) == ("/srv/x", "events", 9100)
    assert config.sources["storage.orders"] == f"file {path}"
    assert config.sources["api.port"] == "env ORDERHEX_API__PORT"
    assert config.sources["api.host"] == "default"
    assert config["api.port"] == 9100


def test_an_unknown_adapter_names_the_key_the_value_and_the_allowed_values() -> None:
    with pytest.raises(bootstrap.ConfigError) as info:
        bootstrap.load_config(env={"ORDERHEX_STORAGE__ADAPTER": "oracle"})
    message = str(info.value)
    assert "storage.adapter" in message and "'oracle'" in message and "env ORDERHEX_STORAGE__ADAPTER" in message
    assert all(name in message for name in bootstrap.STORAGE_ADAPTERS)


@pytest.mark.parametrize(("text", "key"), [
    ("[api]\nport = \"eighty\"\n", "api.port"),
    ("[storage]\nenigne = \"x\"\n", "storage.enigne"),
    ("[storage\n", "--config"),
])
def test_bad_files_fail_with_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "orderhex.toml"
    path.write_text(text)
    with pytest.raises(bootstrap.ConfigError) as info:
        bootstrap.load_config(path, env={})
    assert info.value.key == key


def test_a_port_out_of_range_fails_at_start_with_exit_2_naming_key_value_and_range(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERHEX_API__PORT", "70000")
    assert bootstrap.main(["serve"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "api.port" in line and "70000" in line and "0..65535" in line and "env ORDERHEX_API__PORT" in line


def test_a_missing_config_file_named_by_the_environment_is_attributed_to_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERHEX_CONFIG", str(tmp_path / "gone.toml"))
    with pytest.raises(bootstrap.ConfigError) as info:
        bootstrap.load_from(None)
    assert "env ORDERHEX_CONFIG" in str(info.value) and "gone.toml" in str(info.value)


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(bootstrap.ConfigError, match=r"missing\.toml"):
        bootstrap.load_config(tmp_path / "missing.toml", env={})


def test_switching_a_port_changes_what_the_next_command_uses_and_is_reported() -> None:
    from tests.unit.app_fixtures import memory_app

    app = memory_app()
    before = app.switchboard.get("storage")
    info = app.control.switch("storage", "memory")
    assert info.active == "memory" and app.switchboard.get("storage") is before
    [switched] = [e for e in app.feed.recent() if e.kind.value == "adapter_switched"]
    assert switched.data == {"port": "storage", "from": "memory", "to": "memory"}


@pytest.mark.parametrize(("port", "adapter", "field"), [("storage", "oracle", "adapter"), ("clock", "system", "port"),
                                                        ("nope", "memory", "port")])
def test_switching_to_something_unknown_is_refused(port: str, adapter: str, field: str) -> None:
    from core.kernel.errors import ValidationError
    from tests.unit.app_fixtures import memory_app

    with pytest.raises(ValidationError) as info:
        memory_app().control.switch(port, adapter)
    assert info.value.field == field


def test_closing_an_application_closes_what_it_opened_and_starts_nothing() -> None:
    from tests.unit.app_fixtures import memory_app

    app = memory_app(**{"messaging.adapter": "kafka", "messaging.bootstrap_servers": "127.0.0.1:1"})
    app.storage.check()
    assert app.switchboard.in_use() == [("storage", "memory")]
    app.close()  # the Kafka adapter was never opened, so closing must not try to reach it
    assert app.switchboard.in_use() == []
