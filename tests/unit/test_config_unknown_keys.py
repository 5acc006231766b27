"""An unknown setting is named without its value (a misnamed key often holds a secret) and the
setting the user probably meant is suggested, spelt the way they wrote it (variable or TOML key)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import bootstrap
from tests.served import ORDERHEX

SECRET = "s3cret-never-shown"


def test_a_secret_under_a_misnamed_variable_is_not_echoed_and_the_right_name_is_suggested() -> None:
    with pytest.raises(bootstrap.ConfigError) as info:
        bootstrap.load_config(env={"ORDERHEX_ADMIN_TOKEN": SECRET})
    message = str(info.value)
    assert SECRET not in message
    assert "ORDERHEX_ADMIN_TOKEN" in message
    assert "api.admin_token (ORDERHEX_API__ADMIN_TOKEN)" in message


def test_a_misspelt_toml_key_is_named_without_its_value_and_the_close_key_suggested(tmp_path: Path) -> None:
    path = tmp_path / "orderhex.toml"
    path.write_text(f'[api]\nadmin_tokn = "{SECRET}"\n')
    with pytest.raises(bootstrap.ConfigError) as info:
        bootstrap.load_config(path, env={})
    message = str(info.value)
    assert SECRET not in message
    assert info.value.key == "api.admin_tokn"
    assert "did you mean api.admin_token?" in message.lower()


def test_a_key_like_no_setting_is_named_without_a_guess() -> None:
    with pytest.raises(bootstrap.ConfigError) as info:
        bootstrap.load_config(env={"ORDERHEX_ZZZ": SECRET})
    assert SECRET not in str(info.value) and "did you mean" not in str(info.value).lower()
    assert "orderhex config" in str(info.value)


def test_orderhex_serve_with_a_misnamed_secret_exits_2_with_one_line_that_does_not_hold_it(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ORDERHEX_ADMIN_TOKEN": SECRET,
           "ORDERHEX_DATA_DIR": str(tmp_path)}
    done = subprocess.run([str(ORDERHEX), "serve"], env=env, capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, check=False)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert SECRET not in line + done.stdout
    assert "api.admin_token" in line
