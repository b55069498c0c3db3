"""Interop with the reference server (`openintent-server` from `openintent[server]==0.17.0`, a
real subprocess with its federation enabled through its public `configure_federation`).

What it does, found by running it (spec/federation.md §1 "Ref interop"):
- Its dispatches are signed with its Ed25519 key (the one in its manifest), carry no API key,
  no delegation token, no callback URL, and an empty title/state. Its SSRF check refuses
  127.0.0.1, so our servers listen on 127.0.0.2 here.
- Its receive wants one of its API keys; it answers `fed-...` ids, creates no intent, and
  sends one signed `accepted` callback. It has no callback route of its own.
"""

from __future__ import annotations

import logging

import pytest
from openintent import OpenIntentClient

from tests.support import run_server
from tests.tui.reference_server import run_reference_server

from .helpers import wait_for, write_config

OURS = "127.0.0.2"
FEDERATION_LOG = "openintent.federation"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("reference")
    with run_reference_server(workdir, federation={"trust_policy": "open"}) as ref:
        yield ref


def ours(tmp_path, name: str, yaml: str):
    config = write_config(tmp_path / f"{name}.yaml", f"federation:\n{yaml}")
    return run_server(
        tmp_path / f"{name}.db",
        host=OURS,
        federation_enabled=True,
        federation_config=config,
        egress_allow_cidrs=["127.0.0.0/8"],
    )


def ref_dispatch(reference, target: str) -> tuple[str, str]:
    """The reference creates an intent and dispatches it to `target`: (its intent, dispatch)."""
    with reference.client() as api:
        intent = api.post("/api/v1/intents", json={"title": "Ref work", "state": {"n": 1}})
        intent_id = intent.json()["id"]
        answer = api.post(
            "/api/v1/federation/dispatch",
            json={"intent_id": intent_id, "target_server": target, "agent_id": "worker"},
        )
    assert answer.status_code in (200, 202), answer.text
    return intent_id, answer.json()["dispatch_id"]


def inbound(live) -> list[dict]:
    with live.client() as api:
        return api.get("/api/v1/federation/dispatches", params={"direction": "in"}).json()[
            "dispatches"
        ]


def outbound(live, dispatch_id: str) -> dict:
    with live.client() as api:
        return api.get(f"/api/v1/federation/dispatches/{dispatch_id}").json()


def intent_count(live) -> int:
    with live.client() as api:
        return len(api.get("/api/v1/intents").json()["intents"])


@pytest.mark.parametrize(
    ("policy", "peers"),
    [("allowlist", '["{ref}"]'), ("open", "[]")],  # open: any source that proves itself
)
def test_its_signed_dispatch_verifies_and_becomes_an_intent(tmp_path, reference, policy, peers):
    yaml = f"  trust_policy: {policy}\n  peers: {peers.format(ref=reference.url)}\n"
    with ours(tmp_path, policy, yaml) as b:
        ref_intent, dispatch_id = ref_dispatch(reference, b.url)
        (row,) = wait_for(lambda: inbound(b))
        assert row["dispatch_id"] == dispatch_id
        assert row["status"] == "accepted"
        assert row["source_did"] == reference.url.replace("http://", "did:web:")
        with b.client() as api:
            intent = api.get(f"/api/v1/intents/{row['local_intent_id']}").json()
            events = api.get(f"/api/v1/intents/{intent['id']}/events").json()["events"]
        assert intent["title"] == f"Federated intent {ref_intent}"  # it sends an empty title
        assert intent["status"] == "active"
        received = next(e for e in events if e["event_type"] == "federation.received")
        assert received["payload"]["verified"] is True  # by its signature, no API key sent
        assert received["payload"]["agent_id"] == "worker"


@pytest.mark.parametrize(
    ("policy", "peers", "reason"),
    [
        ("allowlist", "[]", "not trusted"),
        # Listed, but trustless wants a delegation token, which it never sends.
        ("trustless", '["{ref}"]', "Invalid delegation token"),
    ],
)
def test_its_dispatch_is_refused_with_nothing_created(
    tmp_path, reference, caplog, policy, peers, reason
):
    yaml = f"  trust_policy: {policy}\n  peers: {peers.format(ref=reference.url)}\n"
    with (
        caplog.at_level(logging.WARNING, logger=FEDERATION_LOG),
        ours(tmp_path, policy, yaml) as b,
    ):
        ref_dispatch(reference, b.url)
        refusal = wait_for(
            lambda: next((r for r in caplog.records if r.name == FEDERATION_LOG), None)
        )
        assert "(403)" in refusal.getMessage()
        assert reason in refusal.getMessage()
        assert inbound(b) == []
        assert intent_count(b) == 0


def test_we_dispatch_to_it_without_its_key_rejected_once_with_the_reason(tmp_path, reference):
    with ours(tmp_path, "keyless", f'  peers: ["{reference.url}"]\n') as a:
        sdk = OpenIntentClient(base_url=a.url, api_key=a.api_key, agent_id="operator")
        intent = sdk.create_intent(title="For the reference")
        sent = sdk.federation_dispatch(intent.id, reference.url, agent_id="worker")
        record = wait_for(lambda: (r := outbound(a, sent.dispatch_id))["status"] != "pending" and r)
        assert record["status"] == "rejected"
        assert record["last_error"].startswith("HTTP 401")
        assert record["attempts"] == 1  # a 401 is final: no retries
        assert sdk.federation_status().active_dispatches == 0


def test_we_dispatch_to_it_with_its_key_accepted_and_its_callback_verified(tmp_path, reference):
    peer = f'  peers:\n    - url: "{reference.url}"\n      api_key: "{reference.api_key}"\n'
    with ours(tmp_path, "keyed", peer) as a:
        sdk = OpenIntentClient(base_url=a.url, api_key=a.api_key, agent_id="operator")
        intent = sdk.create_intent(title="For the reference")
        sent = sdk.federation_dispatch(intent.id, reference.url, agent_id="worker")
        record = wait_for(
            lambda: (r := outbound(a, sent.dispatch_id))["status"] == "accepted" and r
        )
        assert record["remote_intent_id"].startswith("fed-")  # it creates no intent
        assert record["attempts"] == 1
        events = sdk.get_events(intent.id)
        callback = next(e for e in events if e.event_type.value == "federation.callback")
        assert callback.payload["state_delta"] == {"status": "accepted"}
        assert callback.payload["verified"] is True  # signed with the key in its manifest
