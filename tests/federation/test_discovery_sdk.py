"""Discovery, status and agents on a real server, read by the official SDK."""

from __future__ import annotations

import base64
import textwrap

import httpx
import pytest
from openintent import AsyncOpenIntentClient, OpenIntentClient
from openintent.federation.models import FederationManifest, TrustPolicy
from openintent.federation.security import ServerIdentity

from tests.support import run_server

from .vectors import KEYS


def sdk(live) -> OpenIntentClient:
    return OpenIntentClient(base_url=live.url, api_key=live.api_key, agent_id="fed-tester")


def test_disabled_federation_answers_as_the_sdk_expects(server):
    with httpx.Client(base_url=server.url) as anonymous:
        for path in ("/.well-known/openintent-federation.json", "/.well-known/did.json"):
            response = anonymous.get(path)
            assert response.status_code == 404
            assert response.json() == {
                "detail": "Federation not enabled",
                "message": "Federation not enabled",
            }
        capabilities = anonymous.get("/.well-known/openintent.json").json()["capabilities"]
        assert "federation" not in capabilities
    client = sdk(server)
    status = client.federation_status()
    assert status.enabled is False and status.server_did is None
    assert status.trust_policy == TrustPolicy.ALLOWLIST
    assert (status.peer_count, status.total_dispatches, status.total_received) == (0, 0, 0)
    assert client.list_federated_agents() == []
    if server.settings.postgres_url is None:  # a key file would sit beside the SQLite file
        assert not (server.settings.db_path.parent / "oi.db.federation-key").exists()


@pytest.fixture
def federated(tmp_path, databases):
    config = tmp_path / "federation.yaml"
    config.write_text(
        textwrap.dedent(
            """
            federation:
              peers:
                - url: "http://127.0.0.1:1"
                  public_key: "PINNED_KEY"
                - {url: "http://sender.example", relationship: upstream}
                - {url: "http://sink.example", relationship: downstream}
              agents:
                - {agent_id: analyst, capabilities: [analyze, summarize]}
                - {agent_id: helper, visibility: unlisted}
                - {agent_id: secret-agent, capabilities: [x], visibility: private}
            """
        ).replace("PINNED_KEY", KEYS["B"][1])
    )
    with run_server(
        databases("fed"),
        federation_enabled=True,
        federation_config=str(config),
        federation_peers=["http://127.0.0.1:2"],
    ) as live:
        yield live


def test_manifest_did_document_and_discovery_when_enabled(federated):
    client = sdk(federated)
    manifest = client.federation_discover()  # public: the SDK sends a key, but none is needed
    with httpx.Client(base_url=federated.url) as anonymous:
        assert anonymous.get("/.well-known/openintent-federation.json").json() == manifest
        did_doc = anonymous.get("/.well-known/did.json").json()
        capabilities = anonymous.get("/.well-known/openintent.json").json()["capabilities"]
    assert "federation" in capabilities
    assert FederationManifest.from_dict(manifest).to_dict() == manifest  # every key kept
    assert manifest["server_url"] == federated.url
    assert manifest["server_did"] == ServerIdentity(server_url=federated.url).did
    assert manifest["trust_policy"] == "allowlist"
    assert manifest["peers"] == [
        "http://127.0.0.1:1",
        "http://sender.example",
        "http://sink.example",
        "http://127.0.0.1:2",
    ]
    assert manifest["endpoints"]["receive"] == "/api/v1/federation/receive"
    assert len(base64.b64decode(manifest["public_key"], validate=True)) == 32
    assert did_doc["id"] == manifest["server_did"]
    method = did_doc["verificationMethod"][0]
    assert method["publicKeyBase64"] == manifest["public_key"]
    assert method["publicKeyMultibase"].startswith("z6Mk")
    assert did_doc["authentication"] == [f"{manifest['server_did']}#key-1"]


def test_same_database_after_restart_is_the_same_identity(databases):
    with run_server(databases("a"), federation_enabled=True) as first:
        key = sdk(first).federation_discover()["public_key"]
    with run_server(databases("a"), federation_enabled=True) as again:
        assert sdk(again).federation_discover()["public_key"] == key


def test_status_and_agents_when_enabled(federated):
    client = sdk(federated)
    status = client.federation_status()
    assert status.enabled is True
    assert status.server_did == ServerIdentity(server_url=federated.url).did
    assert status.trust_policy == TrustPolicy.ALLOWLIST
    assert status.peer_count == 4
    public = client.list_federated_agents()
    assert [a["agent_id"] for a in public] == ["analyst"]
    assert public[0] == {
        "agent_id": "analyst",
        "server_url": federated.url,
        "capabilities": ["analyze", "summarize"],
        "visibility": "public",
        "server_did": status.server_did,
        "status": "active",
    }
    # A configured peer that may send to us also sees unlisted agents; never private ones.
    for peer in ("http://sender.example/", "HTTP://127.0.0.1:1"):
        ids = [a["agent_id"] for a in client.list_federated_agents(source_server=peer)]
        assert ids == ["analyst", "helper"], peer
    for stranger in ("http://nobody.example", "http://sink.example"):
        ids = [a["agent_id"] for a in client.list_federated_agents(source_server=stranger)]
        assert ids == ["analyst"], stranger


def test_status_and_agents_need_an_api_key(federated):
    with httpx.Client(base_url=federated.url) as anonymous:
        for path in ("/api/v1/federation/status", "/api/v1/federation/agents"):
            response = anonymous.get(path)
            assert response.status_code == 401
            assert response.json()["message"] == "Invalid or missing API key"


async def test_async_client_reads_the_same(federated):
    async with AsyncOpenIntentClient(
        base_url=federated.url, api_key=federated.api_key, agent_id="fed-tester"
    ) as client:
        status = await client.federation_status()
        assert status.enabled is True and status.peer_count == 4
        agents = await client.list_federated_agents(source_server="http://sender.example")
        assert {a["agent_id"] for a in agents} == {"analyst", "helper"}
        manifest = await client.federation_discover()
        assert manifest["server_did"] == status.server_did
