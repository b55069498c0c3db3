"""`openintent-tui` flags, context selection, the demo, and `serve` delegation."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from openintent_tui.cli import _connection, _demo, build_parser, main
from openintent_tui.contexts import ConfigError, parse_config

CONFIG = """
default_context = "prod"
[contexts.prod]
url = "https://oi.example.test"
api_key_env = "PROD_KEY"
operator = "alice"
read_only = true
"""


@pytest.fixture(autouse=True)
def private_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("OPENINTENT_API_KEY", raising=False)


def test_server_flag_builds_the_connection(monkeypatch):
    monkeypatch.setenv("OPENINTENT_API_KEY", "from-env")
    args = build_parser().parse_args(["--server", "http://127.0.0.1:9/", "--operator", "bob"])
    with _connection(args, parse_config("")) as connection:
        assert (connection.url, connection.api_key, connection.operator) == (
            "http://127.0.0.1:9",
            "from-env",
            "bob",
        )
    args = build_parser().parse_args(["--server", "http://h:1", "--api-key", "k", "--read-only"])
    with _connection(args, parse_config("")) as connection:
        assert connection.api_key == "k" and connection.read_only


def test_context_flag_and_default_context(monkeypatch):
    monkeypatch.setenv("PROD_KEY", "secret")
    config = parse_config(CONFIG)
    for argv in (["--context", "prod"], []):
        with _connection(build_parser().parse_args(argv), config) as connection:
            assert (connection.name, connection.api_key, connection.read_only) == (
                "prod",
                "secret",
                True,
            )
    staging = build_parser().parse_args(["--context", "staging"])
    with pytest.raises(ConfigError, match="no context 'staging'"), _connection(staging, config):
        pass


def test_conflicting_targets_are_rejected(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--demo", "--server", "http://x"])
    assert "not allowed with" in capsys.readouterr().err


def test_a_database_url_other_than_sqlite_is_refused(tmp_path, capsys, monkeypatch):
    """The console's bundled server is SQLite's; a PostgreSQL URL points to `serve`."""
    monkeypatch.chdir(tmp_path)
    for url, expected in [
        ("postgresql://u@db.example/oi", "openintent-tui serve --db postgresql://"),
        ("mysql://u@db.example/oi", "unsupported database URL scheme 'mysql'"),
    ]:
        with pytest.raises(SystemExit) as exited:
            build_parser().parse_args(["--db", url])
        assert exited.value.code != 0
        assert expected in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    parsed = build_parser().parse_args(["--db", "sqlite:////srv/oi.db"])
    assert str(parsed.db) == "/srv/oi.db"


def test_bad_config_file_exits_with_the_reason(tmp_path, capsys):
    bad = tmp_path / "config.toml"
    bad.write_text("[contexts.a]\nurl = 'ftp://x'\n")
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(bad)])
    assert "must start with http" in str(exited.value.code)


@pytest.mark.slow
def test_local_starts_the_bundled_server_despite_a_default_context(monkeypatch):
    monkeypatch.setenv("PROD_KEY", "secret")
    args = build_parser().parse_args(["--local", "--operator", "carol"])
    with _connection(args, parse_config(CONFIG)) as connection:
        assert (connection.name, connection.embedded) == ("local", True)
        assert httpx.get(f"{connection.url}/health").status_code == 200
        url = connection.url
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health")


@pytest.mark.slow
def test_demo_serves_a_seeded_workspace_with_live_agents():
    with _demo() as connection:
        assert connection.name == "demo" and connection.embedded
        headers = {"X-API-Key": connection.api_key}
        with httpx.Client(base_url=connection.url, headers=headers, timeout=10) as http:
            intents = http.get("/api/v1/intents", params={"limit": 100}).json()
            assert intents["total"] >= 20
            assert len(http.get("/api/v1/arbitrations").json()["arbitrations"]) >= 3
            head = http.get("/api/v1/events", params={"limit": 1000}).json()["events"][-1]
            # the agents keep acting: new events appear after the seeded ones
            for _ in range(300):
                fresh = http.get(
                    "/api/v1/events", params={"after": head["global_sequence"]}
                ).json()["events"]
                if fresh:
                    break
                time.sleep(0.1)
            assert fresh, "no agent activity"
            # and a federated peer: reachable, with intents sent to it
            sent = http.get("/api/v1/federation/dispatches", params={"direction": "out"})
            assert sent.json()["total"] >= 3
            for _ in range(300):  # reachable first, its manifest's agents on a later look
                (peer,) = http.get("/api/v1/federation/peers").json()["peers"]
                if peer["reachable"] and peer["public_agents"]:
                    break
                time.sleep(0.1)
            assert peer["reachable"] and peer["public_agents"] == ["analyst", "translator"]
        url = connection.url
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health")  # stopped with the console


@pytest.mark.slow
def test_console_script_help_and_serve_delegation():
    result = subprocess.run(
        [sys.executable, "-m", "openintent_tui", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    for flag in ("--server", "--api-key", "--context", "--demo", "--local", "--operator"):
        assert flag in result.stdout
    serve = subprocess.run(
        [sys.executable, "-m", "openintent_tui", "serve", "--help"], capture_output=True, text=True
    )
    assert serve.returncode == 0 and "--port" in serve.stdout and "--db" in serve.stdout
