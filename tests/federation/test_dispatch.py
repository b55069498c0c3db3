"""Two of our servers on loopback: A dispatches to B, B works the intent, A's intent receives
B's signed callbacks; and the dispatch endpoint's refusals."""

from __future__ import annotations

import json

import httpx
import pytest
from openintent import OpenIntentClient
from openintent.exceptions import NotFoundError, OpenIntentError, ValidationError
from openintent.federation.models import DispatchStatus
from openintent.federation.security import sign_envelope, verify_envelope_signature
from openintent.models import IntentStatus

from backend.federation.tokens import decode
from tests.support import run_server

from .helpers import query_value, sdk_identity, wait_for, write_config
from .vectors import KEYS


def sdk(live, agent: str = "operator") -> OpenIntentClient:
    return OpenIntentClient(base_url=live.url, api_key=live.api_key, agent_id=agent)


def events_of(live, intent_id: str) -> list[dict]:
    with live.client() as api:
        return api.get(f"/api/v1/intents/{intent_id}/events").json()["events"]


def dispatch_record(live, dispatch_id: str) -> dict:
    with live.client() as api:
        return api.get(f"/api/v1/federation/dispatches/{dispatch_id}").json()


def test_a_dispatches_to_b_and_receives_its_callbacks(pair):
    a, b = pair
    origin = sdk(a)
    intent = origin.create_intent(
        title="Forecast Q2",
        description="Use the new model",
        constraints={"deadline": "2026-04-01"},
        initial_state={"inputs": ["sales"], "ratio": 0.5},
    )
    result = origin.federation_dispatch(
        intent.id,
        b.url,
        agent_id="forecaster",
        delegation_scope={"permissions": ["state.patch", "events.log"]},
        trace_context={"trace_id": "trace-42"},
    )
    assert result.status == DispatchStatus.ACCEPTED
    assert result.target_server == b.url

    record = wait_for(
        lambda: (r := dispatch_record(a, result.dispatch_id))["remote_intent_id"] and r
    )
    assert record["direction"] == "out" and record["intent_id"] == intent.id
    assert record["status"] in ("delivered", "accepted")
    assert record["attempts"] == 1 and record["last_error"] is None
    remote = sdk(b).get_intent(record["remote_intent_id"])
    assert remote.title == "Forecast Q2"
    assert remote.description == "Use the new model"
    assert remote.state.to_dict() == {"inputs": ["sales"], "ratio": 0.5}
    assert remote.constraints == {"deadline": "2026-04-01"}
    assert remote.status == IntentStatus.ACTIVE
    received = next(e for e in events_of(b, remote.id) if e["event_type"] == "federation.received")[
        "payload"
    ]
    assert received["verified"] is True
    assert received["source_server"] == a.url
    assert received["trace_context"] == {"trace_id": "trace-42"}
    assert received["agent_id"] == "forecaster"

    # B answers with a signed "accepted" callback, verified on A.
    def callbacks():
        return [e for e in events_of(a, intent.id) if e["event_type"] == "federation.callback"]

    first = wait_for(callbacks)[0]["payload"]
    assert first["state_delta"] == {"status": "accepted"}
    assert first["verified"] is True
    assert first["idempotency_key"] == f"accept-{result.dispatch_id}"
    assert first["trace_id"] == "trace-42"
    assert wait_for(lambda: dispatch_record(a, result.dispatch_id)["status"] == "accepted")

    # B's agent patches state; B's operator completes the intent: A sees both.
    worker = sdk(b, "forecaster")
    patched = worker.update_state(remote.id, remote.version, {"forecast": 1234})
    sdk(b).set_status(remote.id, patched.version, IntentStatus.COMPLETED)
    done = wait_for(
        lambda: [e for e in events_of(a, intent.id) if e["event_type"] == "federation.completed"]
    )
    completed = done[0]["payload"]
    assert completed["state_delta"]["forecast"] == 1234
    assert completed["attestation"]["dispatch_id"] == result.dispatch_id
    assert completed["verified"] is True
    deltas = [c["payload"]["state_delta"] for c in callbacks()]
    assert {"forecast": 1234} in deltas
    assert wait_for(lambda: dispatch_record(a, result.dispatch_id)["status"] == "completed")
    # Every event on A's intent is one the SDK can read.
    assert "federation.dispatched" in [e.event_type.value for e in origin.get_events(intent.id)]

    a_status, b_status = origin.federation_status(), sdk(b).federation_status()
    assert (a_status.total_dispatches, a_status.active_dispatches) == (1, 0)
    assert b_status.total_received == 1
    with a.client() as api:
        listed = api.get("/api/v1/federation/dispatches", params={"direction": "out"}).json()
    assert listed["total"] == 1 and listed["dispatches"][0]["dispatch_id"] == result.dispatch_id
    with b.client() as api:
        inbound = api.get("/api/v1/federation/dispatches", params={"direction": "in"}).json()
    assert inbound["dispatches"][0]["local_intent_id"] == remote.id
    assert inbound["dispatches"][0]["source_server"] == a.url


def test_our_envelopes_verify_with_the_sdk_and_carry_a_root_token(pair, databases):
    """What A sends, as B stored it: signed so the SDK verifies it, with a root token."""
    a, b = pair
    origin = sdk(a)
    intent = origin.create_intent(title="Inspect", initial_state={"k": "é"})
    result = origin.federation_dispatch(intent.id, b.url)
    record = wait_for(
        lambda: (r := dispatch_record(a, result.dispatch_id))["remote_intent_id"] and r
    )
    with b.client() as api:
        stored = api.get(f"/api/v1/federation/dispatches/{result.dispatch_id}").json()
    assert stored["direction"] == "in" and stored["local_intent_id"] == record["remote_intent_id"]
    manifest = origin.federation_discover()
    # The envelope as B received it, checked with the SDK's verifier.
    envelope_json = query_value(
        databases("b"),
        "SELECT envelope FROM federation_inbound WHERE dispatch_id = ?",
        result.dispatch_id,
    )
    envelope = json.loads(envelope_json)
    assert verify_envelope_signature(manifest["public_key"], envelope, envelope["signature"])
    assert envelope["intent_state"] == {"k": "é"}
    token = decode(envelope["delegation_token"])
    assert token["iss"] == manifest["server_did"]
    assert token["aud"] == sdk(b).federation_discover()["server_did"]
    assert token["prf"] == []
    assert envelope["delegation_scope"] == {
        "permissions": ["state.patch", "events.log"],
        "denied_operations": [],
        "max_delegation_depth": 1,
    }


def test_dispatch_refusals(databases, server):
    with run_server(databases("a"), federation_enabled=True, webhook_allow_cidrs=[]) as a:
        origin = sdk(a)
        intent = origin.create_intent(title="x")
        for target in ("http://127.0.0.1:9", "http://169.254.169.254", "ftp://example.com"):
            with pytest.raises(ValidationError):
                origin.federation_dispatch(intent.id, target)
        with pytest.raises(NotFoundError):
            origin.federation_dispatch("no-such-intent", "http://127.0.0.1:9")
        with httpx.Client(base_url=a.url, headers={"X-API-Key": a.api_key}) as api:
            response = api.post(
                "/api/v1/federation/dispatch",
                json={"intent_id": intent.id, "target_server": "http://169.254.169.254"},
            )
            assert response.status_code == 400
            assert response.json()["message"] == (
                "Invalid target server URL: blocked by SSRF protection"
            )
        assert origin.federation_status().total_dispatches == 0
    # Disabled: the SDK sees a ValidationError (400), as with the reference server.
    disabled = sdk(server)
    intent = disabled.create_intent(title="y")
    with pytest.raises(ValidationError):
        disabled.federation_dispatch(intent.id, "http://127.0.0.1:9")


def test_a_dispatch_b_refuses_ends_rejected(databases):
    """B allowlists nobody: A's record ends `rejected` with B's 403 as the last error."""
    with (
        run_server(databases("a"), federation_enabled=True) as a,
        run_server(databases("b"), federation_enabled=True) as b,
    ):
        origin = sdk(a)
        intent = origin.create_intent(title="x")
        result = origin.federation_dispatch(intent.id, b.url)
        record = wait_for(
            lambda: (r := dispatch_record(a, result.dispatch_id))["status"] != "pending" and r
        )
        assert record["status"] == "rejected"
        assert record["last_error"].startswith("HTTP 403")
        assert "not trusted" in record["last_error"]
        assert record["attempts"] == 1
        assert sdk(b).federation_status().total_received == 0


def test_callbacks_need_the_targets_signature_or_a_key(pair):
    a, b = pair
    origin = sdk(a)
    intent = origin.create_intent(title="x")
    result = origin.federation_dispatch(intent.id, b.url)
    wait_for(lambda: dispatch_record(a, result.dispatch_id)["status"] != "pending")
    url = f"{a.url}/api/v1/federation/callback"
    # The SDK's unsigned callback, with A's key.
    answer = origin.send_federation_callback(url, result.dispatch_id, "state_delta", {"n": 1})
    assert answer["accepted"] is True and answer["duplicate"] is False
    with pytest.raises(NotFoundError):
        origin.send_federation_callback(url, "unknown-dispatch", "completed")
    with pytest.raises(ValidationError):
        origin.send_federation_callback(url, result.dispatch_id, "bogus")
    # Signed by someone other than B: 401, nothing logged.
    before = len(events_of(a, intent.id))
    forged = {
        "dispatch_id": result.dispatch_id,
        "event_type": "completed",
        "state_delta": {"done": True},
        "idempotency_key": "forged",
    }
    forged["signature"] = sign_envelope(sdk_identity("C", b.url), forged)
    response = httpx.post(url, json=forged)
    assert response.status_code == 401
    assert "not signed by" in response.json()["message"]
    unsigned = httpx.post(url, json={k: v for k, v in forged.items() if k != "signature"})
    assert unsigned.status_code == 401
    assert len(events_of(a, intent.id)) == before
    # A repeated idempotency key is a duplicate with no effect.
    body = {
        "dispatch_id": result.dispatch_id,
        "event_type": "budget_warning",
        "state_delta": {"spent_usd": 4},
        "idempotency_key": "budget-1",
    }
    with a.client() as api:
        assert api.post(url, json=body).json()["duplicate"] is False
        assert api.post(url, json=body).json()["duplicate"] is True
    types = [e["event_type"] for e in events_of(a, intent.id)]
    assert types.count("federation.budget_warning") == 1
    with pytest.raises(OpenIntentError):
        OpenIntentClient(base_url=a.url, api_key="wrong", agent_id="x").send_federation_callback(
            url, result.dispatch_id, "completed"
        )


def test_peers_show_keys_reachability_and_counts(tmp_path, databases):
    with run_server(databases("b"), federation_enabled=True) as b:
        b_key = sdk(b).federation_discover()["public_key"]
        config = write_config(
            tmp_path / "a.yaml",
            f"""
            federation:
              peers:
                - url: "{b.url}"
                  public_key: "{b_key}"
                  api_key: "{b.api_key}"
                - url: "http://127.1:{b.url.rsplit(":", 1)[1]}"
                  public_key: "{KEYS["C"][1]}"
                - url: "http://127.0.0.1:9"
                  relationship: downstream
            """,
        )
        with run_server(databases("a"), federation_enabled=True, federation_config=config) as a:
            origin = sdk(a)
            intent = origin.create_intent(title="x")
            origin.federation_dispatch(intent.id, b.url)

            def peers():
                with a.client() as api:
                    found = api.get("/api/v1/federation/peers").json()["peers"]
                ready = all(p["reachable"] is not None for p in found)
                return ready and found[0]["dispatches_out"] == 1 and found

            good, mismatched, down = wait_for(peers)
            assert good["reachable"] is True and good["rtt_ms"] >= 0
            assert good["key_source"] == "pinned" and good["key_mismatch"] is False
            assert good["key_fingerprint"].startswith("sha256:")
            assert good["did"] == sdk(b).federation_discover()["server_did"]
            assert good["last_contact_at"]
            assert good["public_agents"] == []
            # The same server under another address, pinned with the wrong key.
            assert mismatched["reachable"] is True and mismatched["key_mismatch"] is True
            assert down["reachable"] is False and down["trusted"] is False
            assert down["last_error"]
    with run_server(databases("off")) as off, off.client() as api:
        assert api.get("/api/v1/federation/peers").json() == {"peers": []}


def test_complete_on_callback_finishes_or_blocks_the_origin_intent(pair):
    a, b = pair
    origin = sdk(a)

    def dispatch(title: str) -> tuple[str, str]:
        intent = origin.create_intent(title=title, initial_state={"kept": True})
        intent = origin.set_status(intent.id, intent.version, IntentStatus.ACTIVE)
        with a.client() as api:
            answer = api.post(
                "/api/v1/federation/dispatch",
                json={"intent_id": intent.id, "target_server": b.url, "complete_on_callback": True},
            )
        assert answer.status_code == 202, answer.text
        dispatch_id = answer.json()["dispatch_id"]
        remote = wait_for(lambda: record_of(dispatch_id)["remote_intent_id"])
        return intent.id, remote

    def record_of(dispatch_id):
        return dispatch_record(a, dispatch_id)

    done_here, done_there = dispatch("completes")
    remote = sdk(b).get_intent(done_there)
    patched = sdk(b).update_state(done_there, remote.version, {"result": 42})
    sdk(b).set_status(done_there, patched.version, IntentStatus.COMPLETED)
    finished = wait_for(
        lambda: (i := origin.get_intent(done_here)).status == IntentStatus.COMPLETED and i
    )
    assert finished.state.to_dict()["result"] == 42
    assert finished.state.to_dict()["kept"] is True

    failed_here, failed_there = dispatch("fails")
    remote = sdk(b).get_intent(failed_there)
    sdk(b).set_status(failed_there, remote.version, IntentStatus.ABANDONED, reason="no data")
    assert wait_for(lambda: origin.get_intent(failed_here).status == IntentStatus.BLOCKED)
    failure = wait_for(
        lambda: [e for e in events_of(a, failed_here) if e["event_type"] == "federation.failed"]
    )
    assert failure[0]["payload"]["state_delta"] == {"status": "abandoned", "reason": "no data"}


def test_a_cost_ceiling_becomes_the_remote_budget_and_its_alert_a_budget_warning(pair):
    a, b = pair
    origin = sdk(a)
    intent = origin.create_intent(title="Spend carefully")
    result = origin.federation_dispatch(
        intent.id,
        b.url,
        federation_policy={
            "governance": {},
            "budget": {"cost_ceiling_usd": 10},
            "observability": {},
        },
    )
    remote_id = wait_for(lambda: dispatch_record(a, result.dispatch_id)["remote_intent_id"])
    remote = sdk(b).get_intent(remote_id)
    assert remote.constraints["budget"] == {
        "max_total": 10,
        "unit": "usd",
        "alert_threshold_percent": 80,
    }
    with b.client("worker") as api:
        for amount in (5, 4):  # 9 of 10: past the 80 % alert
            response = api.post(
                f"/api/v1/intents/{remote_id}/costs",
                json={"cost_type": "llm", "amount": amount, "unit": "usd"},
            )
            assert response.status_code in (200, 201), response.text
    warnings = wait_for(
        lambda: [
            e for e in events_of(a, intent.id) if e["event_type"] == "federation.budget_warning"
        ]
    )
    assert len(warnings) == 1
    assert warnings[0]["payload"]["state_delta"] == {"spent_usd": 9, "cost_ceiling_usd": 10}
    assert warnings[0]["payload"]["verified"] is True
