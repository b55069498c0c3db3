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

from backend.settings import load_settings
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


def refused_start(db: Path, env: dict[str, str], cwd: Path | None = None):
    command = [sys.executable, "-m", "backend", "--db", str(db), "--port", "0", "--api-key", "k"]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=60)


def test_one_server_per_database_until_it_dies(tmp_path, env):
    db = tmp_path / "oi.db"
    with server_process(db, env=env) as first:
        second = refused_start(db, env)
        assert second.returncode != 0
        assert "already running" in second.stderr, second.stderr
        assert first.url in second.stderr and f"pid {first.proc.pid}" in second.stderr
        headers = {"X-API-Key": "k", "X-Agent-ID": "t"}
        made = httpx.post(f"{first.url}/api/v1/intents", json={"title": "kept"}, headers=headers)
        assert made.status_code == 201  # the first one is unaffected
        record = db.with_name("oi.db.server.json")
        assert stat.S_IMODE(record.stat().st_mode) == 0o600
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(30)
    # the lock died with the process: no stale lock to clean up by hand
    with server_process(db, env=env) as third:
        assert status_with_key(third.url, "k") == 200
        assert third.stop() == 0


@pytest.mark.parametrize("url", ["mysql://h/db", "sqlite://rel.db"])
def test_an_unsupported_database_url_is_refused_at_start(tmp_path, env, url):
    done = refused_start(url, env, cwd=tmp_path)
    assert done.returncode != 0
    assert "unsupported database URL scheme" in done.stderr, done.stderr
    assert "SQLite file path" in done.stderr and "postgresql://" in done.stderr
    assert list(tmp_path.iterdir()) == []  # no directory named after the scheme


def test_a_sqlite_url_is_taken_as_its_path():
    assert load_settings({"db": "sqlite:///rel/oi.db"}, environ={}).db_path == Path("rel/oi.db")
    assert load_settings({"db": "sqlite:////abs/oi.db"}, environ={}).db_path == Path("/abs/oi.db")
    assert load_settings({"db": "plain.db"}, environ={}).db_path == Path("plain.db")
    with pytest.raises(SystemExit, match="not a SQLite file URL"):
        load_settings({"db": "sqlite:///:memory:"}, environ={})


def test_database_key_and_record_are_owner_only(tmp_path, env):
    parent_mode = stat.S_IMODE(tmp_path.stat().st_mode)
    db = tmp_path / "new" / "deeper" / "oi.db"
    options = {"command": console_script(), "extra_args": [], "env": env, "log_dir": tmp_path}
    with server_process(db, **options) as server:
        key = (tmp_path / "data" / "openintent-tui" / "api-key").read_text().strip()
        headers = {"X-API-Key": key, "X-Agent-ID": "t"}
        made = httpx.post(f"{server.url}/api/v1/intents", json={"title": "x"}, headers=headers)
        assert made.status_code == 201
        files = [db.with_name(db.name + suffix) for suffix in ("", "-wal", "-shm")]
        files += [db.with_name(db.name + ".server.json")]
        files += [tmp_path / "data" / "openintent-tui" / "api-key"]
        for path in files:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        for directory in (db.parent, db.parent.parent, tmp_path / "data" / "openintent-tui"):
            assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
        assert server.stop() == 0
    assert stat.S_IMODE(tmp_path.stat().st_mode) == parent_mode  # a given parent is left alone


def test_files_an_earlier_version_left_readable_are_narrowed(tmp_path, env):
    data = tmp_path / "data" / "openintent-tui"
    data.mkdir(parents=True, mode=0o755)
    data.chmod(0o755)
    key_file = data / "api-key"
    key_file.write_text("old-key\n")
    key_file.chmod(0o644)
    db = data / "openintent.db"
    with server_process(db, extra_args=[], env=env) as server:
        assert server.stop() == 0
    db.chmod(0o644)  # as an earlier version created it
    with server_process(db, extra_args=[], env=env) as server:
        assert status_with_key(server.url, "old-key") == 200
        assert server.stop() == 0
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
