"""Lease rules (RFC-0003) as a Hypothesis state machine against the real server: agents
acquire, renew, release and revoke scopes and patch state under them; a model of who holds
what predicts every answer, and the server's list of active leases must match it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from tests.support import run_server

AGENTS = ("ada", "bob", "cy")
SCOPES = ("hotel", "flight", "a/b")  # `a/b` is one top-level key, escaped in pointers

_live = None


@pytest.fixture(scope="module", autouse=True)
def live_server(tmp_path_factory) -> Iterator[None]:
    global _live
    with run_server(tmp_path_factory.mktemp("leases") / "oi.db") as live:
        _live = live
        yield
        _live = None


def as_agent(agent: str) -> httpx.Client:
    assert _live is not None
    return _live.client(agent_id=agent)


def pointer(scope: str) -> str:
    return "/" + scope.replace("~", "~0").replace("/", "~1")


class Leases(RuleBasedStateMachine):
    @initialize()
    def create(self) -> None:
        self.clients = {agent: as_agent(agent) for agent in (*AGENTS, "operator")}
        response = self.clients["operator"].post("/api/v1/intents", json={"title": "leases"})
        assert response.status_code == 201, response.text
        self.id = response.json()["id"]
        self.version = response.json()["version"]
        self.held: dict[str, tuple[str, str]] = {}  # scope -> (agent, lease id)
        self.base = f"/api/v1/intents/{self.id}/leases"

    def teardown(self) -> None:
        for client in getattr(self, "clients", {}).values():
            client.close()

    @rule(agent=st.sampled_from(AGENTS), scope=st.sampled_from(SCOPES))
    def acquire(self, agent: str, scope: str) -> None:
        response = self.clients[agent].post(
            self.base, json={"scope": scope, "duration_seconds": 3600}
        )
        if scope in self.held:
            assert response.status_code == 409, response.text
            assert response.json()["existing_lease"]["agent_id"] == self.held[scope][0]
            return
        assert response.status_code == 201, response.text
        lease = response.json()
        assert (lease["agent_id"], lease["scope"], lease["status"]) == (agent, scope, "active")
        self.held[scope] = (agent, lease["id"])

    @rule(agent=st.sampled_from(AGENTS), scope=st.sampled_from(SCOPES))
    def release(self, agent: str, scope: str) -> None:
        if scope not in self.held:
            return
        holder, lease_id = self.held[scope]
        response = self.clients[agent].delete(f"{self.base}/{lease_id}")
        if agent != holder:
            assert response.status_code == 403, response.text
            return
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "released"
        del self.held[scope]

    @rule(agent=st.sampled_from(AGENTS), scope=st.sampled_from(SCOPES))
    def renew(self, agent: str, scope: str) -> None:
        if scope not in self.held:
            return
        holder, lease_id = self.held[scope]
        response = self.clients[agent].patch(
            f"{self.base}/{lease_id}", json={"duration_seconds": 1800}
        )
        assert response.status_code == (200 if agent == holder else 403), response.text

    @rule(scope=st.sampled_from(SCOPES))
    def revoke(self, scope: str) -> None:
        if scope not in self.held:
            return
        _, lease_id = self.held.pop(scope)
        response = self.clients["operator"].post(
            f"{self.base}/{lease_id}/revoke", json={"reason": "property test"}
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "revoked"

    @rule(agent=st.sampled_from(AGENTS), scopes=st.sets(st.sampled_from(SCOPES), min_size=1))
    def patch_state(self, agent: str, scopes: set[str]) -> None:
        response = self.clients[agent].post(
            f"/api/v1/intents/{self.id}/state",
            json={
                "patches": [
                    {"op": "set", "path": pointer(scope) + "/by", "value": agent}
                    for scope in sorted(scopes)
                ]
            },
            headers={"If-Match": str(self.version)},
        )
        blocked = {s for s in scopes if s in self.held and self.held[s][0] != agent}
        if blocked:
            assert response.status_code == 409, response.text
            assert response.json()["existing_lease"]["scope"] in blocked
            return
        assert response.status_code == 200, response.text
        self.version = response.json()["version"]
        assert all(response.json()["state"][scope]["by"] == agent for scope in scopes)

    @invariant()
    def active_leases_match_the_model(self) -> None:
        if not hasattr(self, "id"):
            return
        listed = self.clients["operator"].get(self.base).json()["leases"]
        assert {lease["scope"]: (lease["agent_id"], lease["id"]) for lease in listed} == (self.held)


Leases.TestCase.settings = settings(
    max_examples=20, stateful_step_count=15, deadline=None, database=None
)
TestLeases = Leases.TestCase
