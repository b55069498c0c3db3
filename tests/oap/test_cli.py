"""`openintent-tui agents|route|chain|runs|resume|cancel` against a real server: tables for
people, JSON for scripts, one-line errors without tracebacks."""

from __future__ import annotations

import json

import pytest

from openintent_tui.cli import main
from tests.oap.agents import Agent, finish, handoff_to, running
from tests.support import LiveServer


def cli(server: LiveServer, capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--server", server.url, "--api-key", server.api_key])
    out = capsys.readouterr()
    return int(exited.value.code or 0), out.out, out.err


def test_register_route_chain_runs_resume(server: LiveServer, capsys):
    looper = Agent("looper", ["loop"], handoff_to("closer", "again"))
    closer = Agent("closer", ["close"], finish("closed"))
    with running(looper, closer):
        code, out, _ = cli(server, capsys, "agents", "register", looper.url)
        assert code == 0 and "looper" in out and "loop" in out
        code, out, _ = cli(server, capsys, "agents", "register", closer.url, "--json")
        assert json.loads(out)["agent_id"] == "closer"
        code, out, _ = cli(server, capsys, "agents", "list", "--json")
        assert [a["agent_id"] for a in json.loads(out)["agents"]] == ["looper", "closer"]
        code, out, _ = cli(server, capsys, "agents", "ping")
        assert code == 0 and out.count("alive") == 2

        code, out, _ = cli(server, capsys, "route", "loop the loop")
        assert code == 0 and out.startswith("looper (by keyword; scores: looper=1, closer=0)")
        code, _, err = cli(server, capsys, "route", "nothing matches")
        assert code == 1 and "No agent matched" in err and "Traceback" not in err

        with server.client() as api:
            intent_id = api.post("/api/v1/intents", json={"title": "loop once"}).json()["id"]
        # A hop limit is not "done": exit 1, and the table says where it stopped.
        code, out, _ = cli(server, capsys, "chain", intent_id, "--max-hops", "1", "--wait")
        assert code == 1 and "hop_limit" in out and "next: closer" in out
        code, out, _ = cli(server, capsys, "runs", "--status", "hop_limit", "--json")
        chain_id = json.loads(out)["chains"][0]["chain_id"]
        code, out, _ = cli(server, capsys, "resume", chain_id, "--wait")
        assert code == 0 and "completed" in out and "Done — 2 hop(s): looper → closer" in out
        code, out, _ = cli(server, capsys, "runs")
        assert chain_id in out and "completed" in out

        code, _, err = cli(server, capsys, "resume", chain_id)
        assert code == 1 and "HTTP 409" in err
        code, out, _ = cli(server, capsys, "agents", "remove", "closer")
        assert code == 0 and "removed closer" in out
        code, _, err = cli(server, capsys, "agents", "remove", "closer")
        assert code == 1 and "not registered" in err

    code, out, _ = cli(server, capsys, "agents", "ping", "looper")
    assert code == 1 and "dead" in out  # as `oap ping`: a dead agent fails the command


def test_no_server_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["runs", "--db", str(tmp_path / "none.db")])
    err = capsys.readouterr().err
    assert exited.value.code == 1
    assert "no server is running" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as exited:
        main(["runs", "--server", "http://127.0.0.1:9", "--api-key", "k"])
    assert exited.value.code == 1 and "cannot reach" in capsys.readouterr().err
