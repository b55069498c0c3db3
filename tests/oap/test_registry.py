"""The OAP agent registry: registration as `oap register` does it (GET / wins, the body is
the fallback), through the egress guard, audited; list, show, ping, remove."""

from __future__ import annotations

import httpx

from tests.oap.agents import Agent, dead_url, finish, running
from tests.support import LiveServer, run_server


def test_register_discovers_lists_pings_and_removes(server: LiveServer, api: httpx.Client):
    described = Agent("research-agent", ["Research", " Search "], finish(1))
    silent = Agent("silent", ["ignored"], finish(2), describe=False)
    with running(described, silent):
        # GET / wins over the body: its agent_id and capabilities are registered.
        created = api.post(
            "/api/v1/oap/agents",
            json={"url": described.url, "agent_id": "other-name", "capabilities": ["x"]},
        )
        assert created.status_code == 201, created.text
        agent = created.json()
        assert agent["agent_id"] == "research-agent"
        assert agent["capabilities"] == ["research", "search"]  # stripped, lower-cased
        assert agent["discovered"] is True
        assert agent["description"] == "research-agent test agent"

        # No GET / (404): the body is the fallback; without capabilities it is refused.
        bare = api.post("/api/v1/oap/agents", json={"url": silent.url, "agent_id": "silent"})
        assert bare.status_code == 400 and "capabilities" in bare.json()["message"]
        fallback = api.post(
            "/api/v1/oap/agents",
            json={"url": silent.url, "agent_id": "silent", "capabilities": ["Quiet"]},
        )
        assert fallback.status_code == 201
        assert fallback.json()["capabilities"] == ["quiet"]
        assert fallback.json()["discovered"] is False

        again = api.post("/api/v1/oap/agents", json={"url": described.url})
        assert again.status_code == 409
        replaced = api.post(
            "/api/v1/oap/agents", params={"replace": "true"}, json={"url": described.url}
        )
        assert replaced.status_code == 201

        listed = api.get("/api/v1/oap/agents").json()["agents"]
        assert [a["agent_id"] for a in listed] == ["research-agent", "silent"]
        assert api.get("/api/v1/oap/agents/silent").json()["url"] == silent.url

        described.capabilities = ["research", "summarise"]
        ping = api.post("/api/v1/oap/agents/research-agent/ping", json={})
        assert ping.status_code == 200
        assert ping.json()["status"] == "alive" and ping.json()["capabilities_updated"] is True
        assert api.get("/api/v1/oap/agents/research-agent").json()["capabilities"] == [
            "research",
            "summarise",
        ]
        pinged = api.post("/api/v1/oap/ping", json={}).json()["results"]
        assert {p["agent_id"]: p["status"] for p in pinged} == {
            "research-agent": "alive",
            "silent": "no_health",
        }
        shown = api.get("/api/v1/oap/agents/silent").json()
        assert shown["last_status"] == "no_health" and shown["last_ping_at"]

    # Both servers are gone now: dead.
    pinged = api.post("/api/v1/oap/ping", json={}).json()["results"]
    assert {p["status"] for p in pinged} == {"dead"}

    assert api.delete("/api/v1/oap/agents/silent").status_code == 204
    assert api.delete("/api/v1/oap/agents/silent").status_code == 404
    assert api.get("/api/v1/oap/agents/silent").status_code == 404

    # Registration and removal are audited in the server's log, with who did it.
    log = api.get("/api/v1/events", params={"limit": 100}).json()["events"]
    audit = [
        (e["event_type"], e["actor"], e["payload"]["agent_id"])
        for e in log
        if e["payload"].get("oap", "").startswith("agent_")
    ]
    assert audit == [
        ("agent.registered", "operator", "research-agent"),
        ("agent.registered", "operator", "silent"),
        ("agent.registered", "operator", "research-agent"),
        ("agent.status_changed", "operator", "silent"),
    ]


def test_registration_needs_the_api_key_and_a_valid_body(server: LiveServer):
    with httpx.Client(base_url=server.url) as anonymous:
        refused = anonymous.post("/api/v1/oap/agents", json={"url": "http://127.0.0.1:1"})
        assert refused.status_code == 401
    with server.client() as api:
        for body in ({}, {"url": 5}, {"url": "http://x", "timeout_s": 0}, {"url": "x", "y": 1}):
            response = api.post("/api/v1/oap/agents", json=body)
            assert response.status_code == 400, body
            assert response.json()["message"]
        assert api.get("/api/v1/oap/agents").json()["agents"] == []


def test_the_egress_guard_refuses_private_agents(tmp_path):
    with (
        run_server(tmp_path / "strict.db", webhook_allow_cidrs=[]) as live,
        live.client() as api,
        running(Agent("local", ["local"], finish(1))) as (local,),
    ):
        refused = api.post("/api/v1/oap/agents", json={"url": local.url})
        assert refused.status_code == 400
        assert "not a public address" in refused.json()["message"]
        assert local.received == []
        for url in ("file:///etc/passwd", "http://user:pw@example.com/", dead_url()):
            assert api.post("/api/v1/oap/agents", json={"url": url}).status_code == 400
        assert api.get("/api/v1/oap/agents").json()["agents"] == []
