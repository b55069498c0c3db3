"""`POST /api/v1/federation/receive` on a real server: the SDK's unsigned path, envelopes signed
with the SDK's own functions, trust policies, replays and rejections."""

from __future__ import annotations

import base64
import json
import threading
import uuid

import httpx
import pytest
from openintent import OpenIntentClient
from openintent.exceptions import ConflictError, LeaseConflictError, OpenIntentError
from openintent.federation.models import DelegationScope
from openintent.federation.security import UCANToken
from openintent.models import EventType, IntentStatus

from backend.federation.identity import did_from_url
from backend.federation.tokens import decode, delegate, encode, mint
from tests.support import run_server

from .helpers import (
    Ed25519PrivateKey,
    envelope,
    now_iso,
    pinned_peer_yaml,
    post_receive,
    sdk_identity,
    signed,
    write_config,
)
from .vectors import KEYS, seed

SOURCE = "http://source-a.example"


def sdk(live) -> OpenIntentClient:
    return OpenIntentClient(base_url=live.url, api_key=live.api_key, agent_id="fed-tester")


def counts(live) -> tuple[int, int]:
    """(intents on the server, federation total_received)."""
    with live.client() as api:
        intents = api.get("/api/v1/intents", params={"limit": 1000}).json()["intents"]
        received = api.get("/api/v1/federation/status").json()["total_received"]
    return len(intents), received


def serve(tmp_path, databases, policy: str, peers: str = "", name: str = "b", **overrides):
    config = write_config(
        tmp_path / f"{name}.yaml",
        f"federation:\n  trust_policy: {policy}\n"
        + (f"  peers:\n{peers}\n" if peers else "")
        + "  agents:\n    - {agent_id: hidden, visibility: private}\n",
    )
    return run_server(
        databases(name),
        federation_enabled=True,
        federation_config=config,
        **overrides,
    )


@pytest.fixture
def open_server(tmp_path, databases):
    with serve(tmp_path, databases, "open", pinned_peer_yaml(SOURCE)) as live:
        yield live


@pytest.fixture
def allowlist_server(tmp_path, databases):
    with serve(tmp_path, databases, "allowlist", pinned_peer_yaml(SOURCE)) as live:
        yield live


def test_sdk_federation_receive_creates_a_real_intent(open_server):
    client = sdk(open_server)
    result = client.federation_receive(
        dispatch_id="d-sdk-1",
        source_server="http://anyone.example",
        intent_id="origin-1",
        intent_title="Summarise the quarter",
        intent_description="All regions",
        intent_state={"region": "emea", "step": 0},
        agent_id="analyst",
        delegation_scope={"permissions": ["state.patch"], "max_delegation_depth": 0},
        federation_policy={"governance": {"require_human_approval": True}, "budget": {}},
        idempotency_key="d-sdk-1",
    )
    assert result.accepted is True and result.dispatch_id == "d-sdk-1"
    assert result.message == "Intent received and accepted for processing"
    intent = client.get_intent(result.local_intent_id)
    assert intent.title == "Summarise the quarter"
    assert intent.description == "All regions"
    assert intent.state.to_dict() == {"region": "emea", "step": 0}
    assert intent.status == IntentStatus.ACTIVE
    assert intent.created_by == "federation:http://anyone.example"
    events = client.get_events(result.local_intent_id)  # every type parses as an EventType
    types = [e.event_type.value for e in events]
    assert sorted(types) == ["agent_assigned", "federation.received", "intent_created"]
    received = next(e for e in events if e.event_type.value == "federation.received")
    assert received.payload["dispatch_id"] == "d-sdk-1"
    assert received.payload["remote_intent_id"] == "origin-1"
    assert received.payload["source_server"] == "http://anyone.example"
    assert received.payload["verified"] is False
    assert received.payload["agent_id"] == "analyst"
    assigned = next(e for e in events if e.event_type.value == "agent_assigned")
    assert assigned.payload == {"agent_id": "analyst", "role": "worker"}
    with open_server.client() as api:
        raw = api.get(f"/api/v1/intents/{result.local_intent_id}").json()
        assert raw["governance_policy"] == {"require_human_approval": True}
        assert raw["agents"] == ["analyst"]
    assert client.federation_status().total_received == 1

    again = client.federation_receive(
        dispatch_id="d-sdk-1",
        source_server="http://anyone.example",
        intent_id="origin-1",
        intent_title="Summarise the quarter",
        intent_description="All regions",
        intent_state={"region": "emea", "step": 0},
        agent_id="analyst",
        delegation_scope={"permissions": ["state.patch"], "max_delegation_depth": 0},
        federation_policy={"governance": {"require_human_approval": True}, "budget": {}},
        idempotency_key="d-sdk-1",
    )
    assert again.local_intent_id == result.local_intent_id
    assert again.accepted is True
    assert again.message == "Already processed (idempotent)"
    assert counts(open_server) == (1, 1)

    with pytest.raises(ConflictError) as conflict:
        client.federation_receive(
            dispatch_id="d-sdk-1",
            source_server="http://anyone.example",
            intent_id="origin-1",
            intent_title="Summarise the lease terms",  # "lease" must not reach the 409 body
        )
    assert not isinstance(conflict.value, LeaseConflictError)
    assert conflict.value.status_code == 409
    assert counts(open_server) == (1, 1)


def test_concurrent_identical_receives_make_one_intent(open_server):
    body = envelope("http://anyone.example", open_server.url, dispatch_id="d-race")
    body.pop("created_at")
    answers = []

    def send():
        answers.append(post_receive(open_server.url, body, open_server.api_key).json())

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({a["local_intent_id"] for a in answers}) == 1
    assert all(a["accepted"] for a in answers)
    assert counts(open_server) == (1, 1)


def test_sdk_signed_envelope_from_a_pinned_peer_needs_no_key(allowlist_server):
    identity = sdk_identity("A", SOURCE)
    body = signed(identity, envelope(SOURCE, allowlist_server.url, trace_context={"t": "x"}))
    # Raw UTF-8 on the wire, as the SDK's httpx sends it; the signature covers the parsed text.
    response = httpx.post(
        f"{allowlist_server.url}/api/v1/federation/receive",
        content=json.dumps(body, ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["accepted"] is True
    with allowlist_server.client() as api:
        intent = api.get(f"/api/v1/intents/{answer['local_intent_id']}").json()
        events = api.get(f"/api/v1/intents/{answer['local_intent_id']}/events").json()["events"]
    assert intent["title"] == "Analyse Q1 — ✓"
    assert intent["state"] == body["intent_state"]
    assert intent["constraints"] == {"deadline": "2026-03-01"}
    received = next(e for e in events if e["event_type"] == "federation.received")
    assert received["payload"]["verified"] is True
    assert received["payload"]["trace_context"] == {"t": "x"}
    # The same dispatch re-signed later (a sender's retry) is a replay, not a conflict.
    retry = signed(identity, {**{k: v for k, v in body.items() if k != "signature"}})
    retry["created_at"] = now_iso(1)
    retry = signed(identity, {k: v for k, v in retry.items() if k != "signature"})
    again = post_receive(allowlist_server.url, retry)
    assert again.status_code == 200
    assert again.json()["local_intent_id"] == answer["local_intent_id"]
    assert again.json()["message"] == "Already processed (idempotent)"


def tampered_cases(url: str) -> dict[str, dict]:
    identity = sdk_identity("A", SOURCE)
    good = signed(identity, envelope(SOURCE, url))
    wrong_key = signed(sdk_identity("B", SOURCE), envelope(SOURCE, url))
    return {
        "title changed": {**good, "intent_title": "Something else"},
        "field added": {**good, "agent_id": "other"},
        "wrong key": wrong_key,
        "not base64": {**good, "signature": "!!not-base64!!"},
        "short signature": {**good, "signature": base64.b64encode(b"x" * 32).decode()},
        "too old": signed(identity, envelope(SOURCE, url, created_at=now_iso(-600))),
        "from the future": signed(identity, envelope(SOURCE, url, created_at=now_iso(600))),
        "for another server": signed(identity, envelope(SOURCE, "http://other.example")),
        "no target": signed(identity, envelope(SOURCE, url, target_server=None)),
        "no time": signed(identity, envelope(SOURCE, url, created_at=None)),
        "naive time": signed(identity, envelope(SOURCE, url, created_at="2026-01-01T00:00:00")),
    }


@pytest.mark.parametrize(
    "case",
    [
        "title changed",
        "field added",
        "wrong key",
        "not base64",
        "short signature",
        "too old",
        "from the future",
        "for another server",
        "no target",
        "no time",
        "naive time",
    ],
)
def test_bad_signatures_are_401_even_with_a_key_and_create_nothing(allowlist_server, case):
    body = tampered_cases(allowlist_server.url)[case]
    response = post_receive(allowlist_server.url, body, allowlist_server.api_key)
    assert response.status_code == 401, response.text
    error = response.json()
    assert set(error) >= {"detail", "message"}
    assert "signature" in error["message"].lower()
    assert counts(allowlist_server) == (0, 0)


def test_unsigned_without_a_key_is_401(open_server):
    body = envelope(SOURCE, open_server.url)
    response = post_receive(open_server.url, body)
    assert response.status_code == 401
    assert counts(open_server) == (0, 0)


def test_unknown_signer_with_an_unreachable_manifest_is_401(tmp_path, databases):
    stranger = "http://127.0.0.1:9"  # discard port: nothing listens
    with serve(tmp_path, databases, "open") as live:
        body = signed(sdk_identity("C", stranger), envelope(stranger, live.url))
        response = post_receive(live.url, body)
        assert response.status_code == 401
        assert response.json()["detail"] == f"Unknown signing key for {stranger}"
        assert counts(live) == (0, 0)


def test_the_signer_key_is_fetched_from_its_manifest_and_its_did_bound(tmp_path, databases):
    """A is one of our servers; B knows only A's URL. B fetches A's manifest for the key
    and, resolving A's did:web, binds A's DID to it."""
    key_file = tmp_path / "a.federation-key"
    with serve(tmp_path, databases, "open", name="a", federation_key_file=str(key_file)) as a:
        a_seed = key_file.read_bytes()
        peers = f'    - url: "{a.url}/"\n'
        with serve(
            tmp_path, databases, "allowlist", peers, name="b", federation_did_web_http=True
        ) as b:
            from openintent.federation.security import ServerIdentity

            from .helpers import Ed25519PrivateKey

            public = Ed25519PrivateKey.from_private_bytes(a_seed).public_key().public_bytes_raw()
            identity = ServerIdentity(a.url, private_key_bytes=a_seed, public_key_bytes=public)
            body = signed(identity, envelope(a.url, b.url))
            response = post_receive(b.url, body)
            assert response.status_code == 200, response.text
            local = response.json()["local_intent_id"]
            with b.client() as api:
                events = api.get(f"/api/v1/intents/{local}/events").json()["events"]
                intent = api.get(f"/api/v1/intents/{local}").json()
            payload = next(e for e in events if e["event_type"] == "federation.received")["payload"]
            assert payload["verified"] is True
            assert payload["source_did"] == identity.did
            assert intent["created_by"] == f"federation:{identity.did}"
            # Signed by another key in A's name: the fetched key does not verify it.
            forged = signed(sdk_identity("C", a.url), envelope(a.url, b.url))
            assert post_receive(b.url, forged).status_code == 401


def test_allowlist_admits_listed_sources_only(allowlist_server):
    client = sdk(allowlist_server)
    with pytest.raises(OpenIntentError) as refused:
        client.federation_receive(
            dispatch_id="d-x",
            source_server="http://stranger.example",
            intent_id="i",
            intent_title="t",
        )
    assert refused.value.status_code == 403
    assert refused.value.response == {
        "detail": "Source server http://stranger.example not trusted",
        "message": "Source server http://stranger.example not trusted",
    }
    listed = client.federation_receive(
        dispatch_id="d-y", source_server=SOURCE.upper() + "/", intent_id="i", intent_title="t"
    )
    assert listed.accepted is True
    assert counts(allowlist_server) == (1, 1)


def test_a_downstream_only_peer_cannot_send(tmp_path, databases):
    peers = pinned_peer_yaml(SOURCE, relationship="downstream")
    with serve(tmp_path, databases, "open", peers) as live:
        body = signed(sdk_identity("A", SOURCE), envelope(SOURCE, live.url))
        assert post_receive(live.url, body).status_code == 403
        assert counts(live) == (0, 0)


def test_trustless_refuses_keys_alone_and_signatures_without_a_token(tmp_path, databases):
    with serve(tmp_path, databases, "trustless", pinned_peer_yaml(SOURCE)) as live:
        client = sdk(live)
        with pytest.raises(OpenIntentError) as keyed:
            client.federation_receive(
                dispatch_id="d-1", source_server=SOURCE, intent_id="i", intent_title="t"
            )
        assert keyed.value.status_code == 403
        body = signed(sdk_identity("A", SOURCE), envelope(SOURCE, live.url))
        response = post_receive(live.url, body)
        assert response.status_code == 403
        assert response.json()["detail"].startswith("Invalid delegation token")
        assert counts(live) == (0, 0)


def test_a_peer_policy_stricter_than_the_servers_applies(tmp_path, databases):
    peers = pinned_peer_yaml(SOURCE, trust_policy="trustless")
    with serve(tmp_path, databases, "open", peers) as live:
        client = sdk(live)
        with pytest.raises(OpenIntentError) as keyed:
            client.federation_receive(
                dispatch_id="d-1", source_server=SOURCE, intent_id="i", intent_title="t"
            )
        assert keyed.value.status_code == 403
        # Others still get the server's open policy.
        ok = client.federation_receive(
            dispatch_id="d-2", source_server="http://else.example", intent_id="i", intent_title="t"
        )
        assert ok.accepted


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"federation_policy": {"budget": {"cost_ceiling_usd": 0}}}, "budget"),
        ({"federation_policy": {"budget": {"max_llm_tokens": -1}}}, "budget"),
        (
            {
                "delegation_scope": {
                    "permissions": ["state.patch"],
                    "expires_at": "2020-01-01T00:00:00+00:00",
                }
            },
            "expired",
        ),
        ({"agent_id": "hidden"}, "not available"),
    ],
)
def test_rejections_are_answered_and_stored_with_nothing_created(open_server, fields, message):
    dispatch_id = str(uuid.uuid4())
    body = envelope(SOURCE, open_server.url, dispatch_id=dispatch_id, idempotency_key="k-1")
    body = signed(sdk_identity("A", SOURCE), {**body, **fields})
    first = post_receive(open_server.url, body)
    assert first.status_code == 200, first.text
    assert first.json()["accepted"] is False
    assert first.json()["local_intent_id"] is None
    assert message in first.json()["message"]
    replay = post_receive(open_server.url, body, open_server.api_key)
    assert replay.status_code == 200
    assert replay.json()["accepted"] is False  # the ref says true here
    assert replay.json()["local_intent_id"] is None
    assert counts(open_server) == (0, 0)


def test_a_reused_idempotency_key_with_other_content_is_409(open_server):
    client = sdk(open_server)
    client.federation_receive(
        dispatch_id="d-1",
        source_server=SOURCE,
        intent_id="i",
        intent_title="t",
        idempotency_key="same",
    )
    with pytest.raises(ConflictError):
        client.federation_receive(
            dispatch_id="d-2",
            source_server=SOURCE,
            intent_id="i",
            intent_title="t",
            idempotency_key="same",
        )
    # The same ids from another source are that source's own.
    other = client.federation_receive(
        dispatch_id="d-1",
        source_server="http://b.example",
        intent_id="i",
        intent_title="t",
        idempotency_key="same",
    )
    assert other.accepted
    assert counts(open_server) == (2, 2)


@pytest.mark.parametrize(
    "callback",
    ["http://169.254.169.254/latest", "ftp://127.0.0.1/x", "http://10.0.0.1/cb", "not a url"],
)
def test_callback_urls_the_egress_guard_refuses_are_400(tmp_path, callback, databases):
    with serve(
        tmp_path, databases, "open", pinned_peer_yaml(SOURCE), webhook_allow_cidrs=[]
    ) as live:
        body = signed(sdk_identity("A", SOURCE), envelope(SOURCE, live.url, callback_url=callback))
        response = post_receive(live.url, body)
        assert response.status_code == 400, response.text
        assert "callback_url" in response.json()["message"]
        assert counts(live) == (0, 0)


def test_loopback_callbacks_need_the_egress_allow_list(tmp_path, databases):
    callback = "http://127.0.0.1:8001/api/v1/federation/callback"
    with serve(
        tmp_path, databases, "open", pinned_peer_yaml(SOURCE), webhook_allow_cidrs=[]
    ) as live:
        body = signed(sdk_identity("A", SOURCE), envelope(SOURCE, live.url, callback_url=callback))
        assert post_receive(live.url, body).status_code == 400
    with serve(
        tmp_path,
        databases,
        "open",
        pinned_peer_yaml(SOURCE),
        name="allowed",
        webhook_allow_cidrs=[],
        egress_allow_cidrs=["127.0.0.0/8"],
    ) as live:
        body = signed(sdk_identity("A", SOURCE), envelope(SOURCE, live.url, callback_url=callback))
        assert post_receive(live.url, body).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        [],
        "text",
        {"source_server": SOURCE, "intent_id": "i", "intent_title": "t"},
        {"dispatch_id": "d", "source_server": SOURCE, "intent_id": "i"},
        {"dispatch_id": 5, "source_server": SOURCE, "intent_id": "i", "intent_title": "t"},
        {"envelope_id": "e", "intent_snapshot": {}, "timestamp": "2026-01-01T00:00:00Z"},
        {
            "dispatch_id": "d",
            "source_server": SOURCE,
            "intent_id": "i",
            "intent_title": "t",
            "trace_context": {"depth": 3},
        },
    ],
)
def test_malformed_envelopes_are_400(open_server, body):
    response = post_receive(open_server.url, body, open_server.api_key)
    assert response.status_code == 400, response.text
    assert set(response.json()) >= {"detail", "message"}


def test_non_json_and_nan_bodies_are_400(open_server):
    for content in (b"{not json", b'{"dispatch_id": NaN}'):
        response = httpx.post(
            f"{open_server.url}/api/v1/federation/receive",
            content=content,
            headers={"X-API-Key": open_server.api_key, "Content-Type": "application/json"},
        )
        assert response.status_code == 400
        assert response.json()["message"].startswith("The body is not valid JSON")


def test_receive_when_disabled_is_400(server):
    client = sdk(server)
    from openintent.exceptions import ValidationError

    with pytest.raises(ValidationError):
        client.federation_receive(
            dispatch_id="d", source_server=SOURCE, intent_id="i", intent_title="t"
        )


def trustless_peers() -> str:
    """SOURCE (key A) may send; server C (key C) is known by DID as an upstream delegator."""
    return (
        pinned_peer_yaml(SOURCE)
        + '\n    - did: "did:web:server-c.example.com"\n'
        + f'      public_key: "{KEYS["C"][1]}"\n'
        + "      relationship: upstream"
    )


def test_trustless_accepts_a_signed_envelope_with_an_sdk_root_token(tmp_path, databases):
    with serve(tmp_path, databases, "trustless", trustless_peers()) as live:
        identity = sdk_identity("A", SOURCE)
        token = UCANToken(
            issuer=did_from_url(SOURCE), audience=did_from_url(live.url), scope=DelegationScope()
        ).encode(identity)
        body = signed(identity, envelope(SOURCE, live.url, delegation_token=token))
        response = post_receive(live.url, body)
        assert response.status_code == 200, response.text
        assert response.json()["accepted"] is True
        assert counts(live) == (1, 1)

        # The envelope may not claim more than its token grants.
        wider = envelope(
            SOURCE,
            live.url,
            delegation_token=token,
            delegation_scope={"permissions": ["state.patch", "admin"]},
        )
        response = post_receive(live.url, signed(identity, wider))
        assert response.status_code == 403
        assert "exceeds" in response.json()["detail"]
        # A token for another server, or issued by someone else, is refused.
        for issuer, audience in [
            (did_from_url(SOURCE), "did:web:elsewhere.example"),
            ("did:web:server-c.example.com", did_from_url(live.url)),
        ]:
            other = UCANToken(issuer=issuer, audience=audience, scope=DelegationScope())
            body = signed(
                identity, envelope(SOURCE, live.url, delegation_token=other.encode(identity))
            )
            response = post_receive(live.url, body)
            assert response.status_code == 403, response.text
            assert response.json()["detail"].startswith("Invalid delegation token")
        assert counts(live) == (1, 1)


def test_trustless_verifies_a_two_link_chain_and_refuses_widening_or_sdk_chains(
    tmp_path, databases
):
    """C grants SOURCE a scope; SOURCE re-delegates to us, narrower (ours) or wider (forged),
    or the SDK's way (the parent re-signed by SOURCE)."""
    with serve(tmp_path, databases, "trustless", trustless_peers()) as live:
        identity = sdk_identity("A", SOURCE)
        sign_c = Ed25519PrivateKey.from_private_bytes(seed("C")).sign
        sign_a = Ed25519PrivateKey.from_private_bytes(seed("A")).sign
        root_scope = {
            "permissions": ["state.patch", "events.log", "intent.create"],
            "denied_operations": ["intent.delete"],
            "max_delegation_depth": 2,
        }
        root = mint(
            issuer="did:web:server-c.example.com",
            audience=did_from_url(SOURCE),
            scope=root_scope,
            sign=sign_c,
        )
        narrow = {"permissions": ["state.patch"], "max_delegation_depth": 0}
        leaf = delegate(root, audience=did_from_url(live.url), child_scope=narrow, sign=sign_a)
        body = envelope(
            SOURCE,
            live.url,
            delegation_token=leaf,
            delegation_scope={
                "permissions": ["state.patch"],
                "denied_operations": ["intent.delete"],
                "max_delegation_depth": 0,
            },
        )
        response = post_receive(live.url, signed(identity, body))
        assert response.status_code == 200, response.text
        local = response.json()["local_intent_id"]
        with live.client() as api:
            events = api.get(f"/api/v1/intents/{local}/events").json()["events"]
        payload = next(e for e in events if e["event_type"] == "federation.received")["payload"]
        assert payload["delegation_scope"]["permissions"] == ["state.patch"]

        widened = encode(
            {
                **decode(leaf),
                "scope": {**root_scope, "permissions": [*root_scope["permissions"], "admin"]},
                "prf": [root],
            },
            sign_a,
        )
        sdk_chain = (
            UCANToken.decode(root)
            .attenuate(did_from_url(live.url), DelegationScope.from_dict(narrow), identity)
            .encode(identity)
        )
        for token, reason in [(widened, "permissions widened"), (sdk_chain, "signature")]:
            body = envelope(SOURCE, live.url, delegation_token=token, delegation_scope=None)
            response = post_receive(live.url, signed(identity, body))
            assert response.status_code == 403, response.text
            assert reason in response.json()["detail"]
        assert counts(live) == (1, 1)


def test_the_delegated_scope_binds_the_remote_agent_on_the_local_intent(open_server):
    operator = sdk(open_server)
    agent = OpenIntentClient(
        base_url=open_server.url, api_key=open_server.api_key, agent_id="analyst"
    )

    def receive(dispatch_id: str, scope: dict | None):
        return operator.federation_receive(
            dispatch_id=dispatch_id,
            source_server=SOURCE,
            intent_id="origin",
            intent_title="Work",
            intent_state={"n": 0},
            agent_id="analyst",
            delegation_scope=scope,
        ).local_intent_id

    # No scope sent: the SDK's default, state.patch and events.log, no status changes.
    default = receive("d-default", None)
    patched = agent.update_state(default, 1, {"n": 1})
    assert patched.state.to_dict() == {"n": 1}
    with pytest.raises(OpenIntentError) as refused:
        agent.set_status(default, patched.version, IntentStatus.COMPLETED)
    assert refused.value.status_code == 403
    assert "status.update" in refused.value.response["detail"]
    assert operator.get_intent(default).status == IntentStatus.ACTIVE
    # Local operators are not bound by the remote agent's scope.
    done = operator.set_status(default, patched.version, IntentStatus.COMPLETED)
    assert done.status == IntentStatus.COMPLETED

    # Granted status.update: the agent may complete; denied state.patch: it may not patch.
    granted = receive("d-granted", {"permissions": ["state.patch", "status.update"]})
    assert agent.set_status(granted, 1, IntentStatus.COMPLETED).status == IntentStatus.COMPLETED
    denied = receive(
        "d-denied",
        {"permissions": ["state.patch", "status.update"], "denied_operations": ["state.patch"]},
    )
    with pytest.raises(OpenIntentError) as refused:
        agent.update_state(denied, 1, {"n": 2})
    assert refused.value.status_code == 403
    assert operator.get_intent(denied).state.to_dict() == {"n": 0}
    assert operator.get_intent(denied).version == 1
    # Other agents on the same intent are not the delegated one.
    other = OpenIntentClient(base_url=open_server.url, api_key=open_server.api_key, agent_id="x")
    assert other.update_state(denied, 1, {"n": 3}).version == 2

    # events.log: granted by default; without it the agent's own events are refused.
    assert agent.log_event(default, EventType.COMMENT, {"text": "noted"}).payload == {
        "text": "noted"
    }
    before = len(operator.get_events(granted))
    with pytest.raises(OpenIntentError) as refused:
        agent.log_event(granted, EventType.COMMENT, {"text": "not allowed"})
    assert refused.value.status_code == 403
    assert "events.log" in refused.value.response["detail"]
    assert len(operator.get_events(granted)) == before
    assert other.log_event(granted, EventType.COMMENT, {"text": "fine"}).payload
