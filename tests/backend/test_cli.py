"""`openintent-tui serve` and `python -m backend` as real processes: keys, env, TOML, exit."""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_crash import server_process

pytestmark = pytest.mark.slow


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    """The child's environment with its own data/config dirs and no OPENINTENT_* leaking in."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OPENINTENT_")}
    clean["XDG_DATA_HOME"] = str(tmp_path / "data")
    clean["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    return clean


def status_with_key(url: str, key: str | None) -> int:
    headers = {"X-API-Key": key} if key else {}
    return httpx.get(f"{url}/api/v1/intents", headers=headers).status_code


def console_script() -> list[str]:
    script = Path(sys.executable).with_name("openintent-tui")
    return [str(script), "serve"] if script.exists() else [shutil.which("openintent-tui"), "serve"]


def test_serve_without_a_key_generates_one_says_where_and_reuses_it(tmp_path, env):
    db = tmp_path / "oi.db"
    with server_process(db, command=console_script(), extra_args=[], env=env) as first:
        output = first.output()
        match = re.search(r"API key: generated and stored in (\S+) \(mode 0600\)", output)
        assert match, output
        key_file = Path(match.group(1))
        assert key_file.is_relative_to(tmp_path / "data")
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        key = key_file.read_text().strip()
        assert status_with_key(first.url, None) == 401
        assert status_with_key(first.url, key) == 200
        assert f"database: {db}" in output
        assert "http://127.0.0.1:" in output  # loopback by default
        assert first.stop() == 0
    assert key not in first.output()  # where the key is, not the key itself
    with server_process(db, command=console_script(), extra_args=[], env=env) as second:
        assert key_file.read_text().strip() == key
        assert status_with_key(second.url, key) == 200
        assert second.stop() == 0


def test_env_beats_toml_and_flags_beat_env(tmp_path, env):
    config = tmp_path / "server.toml"
    config.write_text('[server]\napi_keys = ["toml-key"]\n')
    env["OPENINTENT_API_KEYS"] = "env-key-1,env-key-2"
    db = tmp_path / "oi.db"
    with server_process(db, extra_args=["--config", str(config)], env=env) as server:
        assert status_with_key(server.url, "env-key-2") == 200
        assert status_with_key(server.url, "toml-key") == 401
        assert "API key: generated" not in server.output()
        assert server.stop(signal.SIGINT) == 0
    flags = ["--config", str(config), "--api-key", "flag-a", "--api-key", "flag-b"]
    with server_process(db, extra_args=flags, env=env) as server:
        assert status_with_key(server.url, "flag-b") == 200
        assert status_with_key(server.url, "env-key-1") == 401
        assert server.stop() == 0


def test_help_and_invalid_settings(env):
    shown = subprocess.run(
        [sys.executable, "-m", "backend", "--help"], capture_output=True, text=True, env=env
    )
    assert shown.returncode == 0
    assert all(flag in shown.stdout for flag in ("--host", "--port", "--db", "--api-key"))
    env["OPENINTENT_PORT"] = "eighty"
    refused = subprocess.run(
        [sys.executable, "-m", "backend"], capture_output=True, text=True, env=env, timeout=60
    )
    assert refused.returncode != 0
    assert "invalid setting" in refused.stderr
