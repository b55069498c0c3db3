"""Three of our servers on loopback: A dispatches to B, B re-delegates to C with a narrower
scope (a child of A's token), C cannot go further; and dispatches survive the target being
down and the origin restarting."""

from __future__ import annotations

import pytest
from openintent import OpenIntentClient
from openintent.exceptions import OpenIntentError

from tests.support import run_server

from .helpers import free_port, wait_for, write_config


def sdk(live, agent: str = "operator") -> OpenIntentClient:
    return OpenIntentClient(base_url=live.url, api_key=live.api_key, agent_id=agent)


def record(live, dispatch_id: str) -> dict:
    with live.client() as api:
        return api.get(f"/api/v1/federation/dispatches/{dispatch_id}").json()


def received_payload(live, intent_id: str) -> dict:
    with live.client() as api:
        events = api.get(f"/api/v1/intents/{intent_id}/events").json()["events"]
    return next(e for e in events if e["event_type"] == "federation.received")["payload"]


def allowing(tmp_path, name: str, *urls: str) -> str:
    peers = "".join(f'    - "{u}"\n' for u in urls)
    return write_config(tmp_path / f"{name}.yaml", f"federation:\n  peers:\n{peers}")


def test_a_to_b_to_c_narrows_and_stops_at_depth_zero(tmp_path, databases):
    options = {"federation_enabled": True, "federation_did_web_http": True}
    with (
        run_server(databases("a"), **options) as a,
        run_server(
            databases("b"), federation_config=allowing(tmp_path, "b", a.url), **options
        ) as b,
        run_server(
            databases("c"), federation_config=allowing(tmp_path, "c", b.url), **options
        ) as c,
    ):
        origin = sdk(a)
        intent = origin.create_intent(title="Audit", initial_state={"x": 1})
        grant = {
            "permissions": ["state.patch", "events.log", "intent.create"],
            "denied_operations": ["intent.delete"],
            "max_delegation_depth": 2,
        }
        to_b = origin.federation_dispatch(
            intent.id, b.url, agent_id="auditor", delegation_scope=grant
        )
        at_b = wait_for(lambda: record(a, to_b.dispatch_id)["remote_intent_id"])

        # B passes the work on to C, asking for less.
        to_c = sdk(b).federation_dispatch(
            at_b,
            c.url,
            agent_id="sub-auditor",
            delegation_scope={
                "permissions": ["state.patch", "admin"],
                "denied_operations": ["events.delete"],
                "max_delegation_depth": 5,
            },
        )
        c_record = wait_for(lambda: (r := record(b, to_c.dispatch_id))["status"] != "pending" and r)
        assert c_record["status"] in ("delivered", "accepted"), c_record
        at_c = c_record["remote_intent_id"]
        payload = received_payload(c, at_c)
        assert payload["verified"] is True
        assert payload["source_server"] == b.url
        assert payload["delegation_scope"] == {
            "permissions": ["state.patch"],
            "denied_operations": ["events.delete", "intent.delete"],
            "max_delegation_depth": 1,
        }
        assert sdk(c).get_intent(at_c).title == "Audit"

        # C may go one hop more (depth 1 -> 0) but not two.
        with run_server(
            databases("d"), federation_config=allowing(tmp_path, "d", c.url), **options
        ) as d:
            to_d = sdk(c).federation_dispatch(at_c, d.url)
            d_record = wait_for(
                lambda: (r := record(c, to_d.dispatch_id))["status"] != "pending" and r
            )
            assert d_record["status"] in ("delivered", "accepted"), d_record
            at_d = d_record["remote_intent_id"]
            scope_d = received_payload(d, at_d)["delegation_scope"]
            assert scope_d["max_delegation_depth"] == 0
            with d.client() as api:
                (row,) = [
                    x
                    for x in api.get(
                        "/api/v1/federation/dispatches", params={"direction": "in"}
                    ).json()["dispatches"]
                ]
            assert row["source_server"] == c.url
            with pytest.raises(OpenIntentError) as refused:
                sdk(d).federation_dispatch(at_d, a.url)
            assert refused.value.status_code == 403
            assert "Delegation depth exceeded" in refused.value.response["detail"]


def test_a_dispatch_waits_for_its_target_and_survives_the_origin_restarting(tmp_path, databases):
    b_port, a_port = free_port(), free_port()
    b_url = f"http://127.0.0.1:{b_port}"
    a_options = {"federation_enabled": True, "federation_max_attempts": 8}
    with run_server(databases("a"), a_port, **a_options) as a:
        origin = sdk(a)
        intent = origin.create_intent(title="Later")
        sent = [origin.federation_dispatch(intent.id, b_url).dispatch_id for _ in range(3)]
        # B is down: each dispatch is tried and stays pending with the error recorded.
        wait_for(lambda: all(record(a, d)["attempts"] >= 1 for d in sent))
        assert {record(a, d)["status"] for d in sent} == {"pending"}
        assert all(record(a, d)["last_error"] for d in sent)
    # A restarts (same database); then B comes up.
    with run_server(databases("a"), a_port, **a_options) as a:
        config = allowing(tmp_path, "b", a.url)
        with run_server(
            databases("b"), b_port, federation_enabled=True, federation_config=config
        ) as b:
            done = wait_for(
                lambda: all(record(a, d)["status"] in ("delivered", "accepted") for d in sent),
                timeout=30,
            )
            assert done
            with b.client() as api:
                inbound = api.get(
                    "/api/v1/federation/dispatches", params={"direction": "in", "limit": 100}
                ).json()
            assert sorted(d["dispatch_id"] for d in inbound["dispatches"]) == sorted(sent)
            assert sdk(b).federation_status().total_received == 3
            for dispatch_id in sent:  # each arrived once, as its own intent
                remote = record(a, dispatch_id)["remote_intent_id"]
                assert received_payload(b, remote)["dispatch_id"] == dispatch_id
            assert len({record(a, d)["remote_intent_id"] for d in sent}) == 3
