"""Settings layering (flags > OPENINTENT_* env > TOML > defaults) and the generated API key."""

from __future__ import annotations

import stat

import pytest

from backend.settings import (
    Settings,
    config_dir,
    data_dir,
    ensure_api_key,
    generated_key_path,
    load_settings,
)


@pytest.fixture(autouse=True)
def private_dirs(tmp_path, monkeypatch):
    """Point the platform data and config dirs (XDG on Linux) at this test's own directory."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path


def write_toml(path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults(private_dirs):
    settings = load_settings(environ={})
    assert settings.host == "127.0.0.1"  # loopback unless told otherwise
    assert settings.port == 8000
    assert settings.api_keys == [] and settings.api_key_hashes == []
    assert settings.db_path == data_dir() / "openintent.db"
    assert str(data_dir()).startswith(str(private_dirs / "data"))
    assert settings.base_url == "http://127.0.0.1:8000"


def test_toml_env_and_flags_layer_in_order(tmp_path):
    config = write_toml(
        tmp_path / "server.toml",
        '[server]\nport = 9001\nhost = "0.0.0.0"\ndb = "/from/toml.db"\n'
        'api_keys = ["toml-key"]\nlog_level = "info"\n',
    )
    from_toml = load_settings(config_file=config, environ={})
    assert (from_toml.port, from_toml.host, from_toml.db) == (9001, "0.0.0.0", "/from/toml.db")
    assert from_toml.api_keys == ["toml-key"]

    environ = {"OPENINTENT_PORT": "9002", "OPENINTENT_API_KEYS": "env-a, env-b,"}
    from_env = load_settings(config_file=config, environ=environ)
    assert from_env.port == 9002
    assert from_env.api_keys == ["env-a", "env-b"]
    assert from_env.host == "0.0.0.0"  # env left it alone, so TOML's value stands

    flags = {"port": 9003, "host": None, "api_keys": ["flag-key"], "db": None}
    from_flags = load_settings(flags, config_file=config, environ=environ)
    assert from_flags.port == 9003
    assert from_flags.api_keys == ["flag-key"]
    assert from_flags.host == "0.0.0.0"  # an unset flag (None) does not count
    assert from_flags.db == "/from/toml.db"
    assert from_flags.log_level == "info"


def test_toml_without_a_server_table_and_via_env_pointer(tmp_path):
    config = write_toml(tmp_path / "flat.toml", "port = 7007\n")
    assert load_settings(environ={"OPENINTENT_CONFIG": str(config)}).port == 7007


def test_default_config_file_location_is_read():
    write_toml(config_dir() / "server.toml", "[server]\nport = 7100\n")
    assert load_settings(environ={}).port == 7100


@pytest.mark.parametrize(
    ("toml", "environ"),
    [
        ("[server]\nport = 'many'\n", {}),
        ("[server]\nprot = 1\n", {}),
        ("", {"OPENINTENT_PORT": "eighty"}),
    ],
    ids=["bad-type", "unknown-key", "bad-env"],
)
def test_invalid_settings_stop_with_a_message(tmp_path, toml, environ):
    config = write_toml(tmp_path / "bad.toml", toml)
    with pytest.raises(SystemExit) as caught:
        load_settings(config_file=config, environ=environ)
    assert "invalid setting" in str(caught.value)


def test_generated_key_is_created_once_private_and_reused():
    key_file = generated_key_path()
    assert not key_file.exists()
    first, path = ensure_api_key(Settings())
    assert path == key_file and key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(first.api_keys) == 1 and len(first.api_keys[0]) >= 32
    assert key_file.read_text().strip() == first.api_keys[0]

    second, path_again = ensure_api_key(Settings())
    assert path_again == key_file
    assert second.api_keys == first.api_keys


def test_generated_keys_differ_per_installation(tmp_path, monkeypatch):
    one, _ = ensure_api_key(Settings())
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "elsewhere"))
    two, _ = ensure_api_key(Settings())
    assert one.api_keys != two.api_keys  # no built-in default key


@pytest.mark.parametrize(
    "configured", [Settings(api_keys=["mine"]), Settings(api_key_hashes=["00" * 32])]
)
def test_configured_keys_mean_no_generated_key(configured):
    settings, path = ensure_api_key(configured)
    assert path is None and settings == configured
    assert not generated_key_path().exists()
