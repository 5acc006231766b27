"""Configuration: defaults <- orderhex.toml <- ORDERHEX_* variables, with clear errors."""

from __future__ import annotations

import os
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
    before = app.switchboard.get("orders.storage")
    info = app.control.switch("orders.storage", "memory")
    assert info.active == "memory" and app.switchboard.get("orders.storage") is before
    [switched] = [e for e in app.feed.recent() if e.kind.value == "adapter_switched"]
    assert switched.data == {"port": "orders.storage", "from": "memory", "to": "memory"}


@pytest.mark.parametrize(("port", "adapter", "field"), [("orders.storage", "oracle", "adapter"),
                                                        ("clock", "system", "port"), ("nope", "memory", "port")])
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
    assert app.switchboard.in_use() == [("orders.storage", "memory")]
    app.close()  # the Kafka adapter was never opened, so closing must not try to reach it
    assert app.switchboard.in_use() == []


def test_orderhex_toml_in_the_working_directory_is_read_when_no_file_is_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORDERHEX_CONFIG", raising=False)
    monkeypatch.delenv("ORDERHEX_API__PORT", raising=False)
    (tmp_path / "orderhex.toml").write_text("[api]\nport = 9002\n")
    config = bootstrap.load_from(None, cwd=tmp_path)
    assert config["api.port"] == 9002
    assert config.sources["api.port"] == f"file {tmp_path / 'orderhex.toml'}"


def test_a_named_file_wins_over_the_working_directorys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORDERHEX_API__PORT", raising=False)
    (tmp_path / "orderhex.toml").write_text("[api]\nport = 9002\n")
    named = tmp_path / "named.toml"
    named.write_text("[api]\nport = 9003\n")
    monkeypatch.setenv("ORDERHEX_CONFIG", str(named))
    assert bootstrap.load_from(None, cwd=tmp_path)["api.port"] == 9003
    other = tmp_path / "other.toml"
    other.write_text("[api]\nport = 9004\n")
    assert bootstrap.load_from(str(other), cwd=tmp_path)["api.port"] == 9004


def test_without_any_file_the_defaults_and_environment_apply(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORDERHEX_CONFIG", raising=False)
    monkeypatch.delenv("ORDERHEX_API__PORT", raising=False)
    config = bootstrap.load_from(None, cwd=tmp_path)
    assert (config["api.port"], config.sources["api.port"]) == (8000, "default")


def test_a_bad_orderhex_toml_in_the_working_directory_is_named_as_such(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORDERHEX_CONFIG", raising=False)
    (tmp_path / "orderhex.toml").write_text("[api\n")
    with pytest.raises(bootstrap.ConfigError) as info:
        bootstrap.load_from(None, cwd=tmp_path)
    assert info.value.key == "orderhex.toml" and "working directory" in str(info.value)


def test_the_default_data_dir_follows_xdg_data_home() -> None:
    from adapters.inbound.cli.settings import default_data_dir

    assert default_data_dir({}) == "~/.local/share/orderhex"
    assert default_data_dir({"XDG_DATA_HOME": "/srv/data"}) == "/srv/data/orderhex"
    assert default_data_dir({"XDG_DATA_HOME": "relative"}) == "~/.local/share/orderhex"  # the spec ignores it
    assert bootstrap.SETTINGS["data_dir"].default == default_data_dir()


def test_make_dashboard_uses_the_default_data_dir_like_every_command() -> None:
    # It once set ./var while the CLI and serve used the default: `orderhex orders` showed nothing
    # after the dashboard's tour.
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    assert "ORDERHEX_DATA_DIR" not in makefile


def test_the_dashboard_opens_on_the_data_the_cli_wrote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from adapters.inbound.cli.settings import Setting
    from tui import command as dashboard_command

    for name in [n for n in os.environ if n.startswith("ORDERHEX_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setitem(bootstrap.SETTINGS, "data_dir", Setting("~/.local/share/orderhex"))
    monkeypatch.chdir(tmp_path)
    assert bootstrap.main(["place", "--customer", "c-9", "--item", "SKU-1:1:1.00"]) == 0
    placed = capsys.readouterr().out.split()[1]
    seen: dict[str, object] = {}

    def run_app(ordering, control, *, source: str, notice: str | None = None, **services: object) -> int:
        from core.orders.queries import ListOrders

        # The panels' ports (resilience, sagas, instances) ride along with the services' documents.
        seen.update(source=source, orders=[s.order_id for s in ordering.list(ListOrders()).items],
                    documents_of=sorted(name for name in services if name in ("inventory", "payments", "shipping")),
                    sagas=services.get("sagas") is not None)
        return 0

    monkeypatch.setattr(dashboard_command, "run_app", run_app)
    assert bootstrap.main(["dashboard"]) == 0
    data_dir = tmp_path / ".local" / "share" / "orderhex"
    assert seen == {"source": f"in-process · data in {data_dir}", "orders": [placed],
                    "documents_of": ["inventory", "payments", "shipping"], "sagas": True}
    assert (data_dir / "orderhex.sqlite3").exists()
