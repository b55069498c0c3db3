"""Leases (RFC-0003) over HTTP against the real server: every endpoint and every refusal."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support import LiveServer, run_server


@pytest.fixture
def agents(server: LiveServer) -> Iterator[dict[str, httpx.Client]]:
    clients = {name: server.client(name) for name in ("alice", "bob", "operator")}
    clients["anonymous"] = server.client(agent_id=None)
    yield clients
    for client in clients.values():
        client.close()


def new_intent(client: httpx.Client, title: str = "Trip") -> str:
    response = client.post("/api/v1/intents", json={"title": title})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def acquire(client: httpx.Client, intent_id: str, scope: str = "hotel", duration: int = 60):
    return client.post(
        f"/api/v1/intents/{intent_id}/leases",
        json={"scope": scope, "duration_seconds": duration},
    )


def events(client: httpx.Client, intent_id: str) -> list[dict]:
    return client.get(f"/api/v1/intents/{intent_id}/events", params={"limit": 1000}).json()[
        "events"
    ]


def lease_events(client: httpx.Client, intent_id: str) -> list[tuple[str, str]]:
    return [
        (e["event_type"], e["payload"]["action"])
        for e in events(client, intent_id)
        if e["event_type"].startswith("lease_")
    ]


def assert_error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["detail"] and body["message"]
    return body


def wait_until(predicate, timeout: float = 15.0) -> None:
    """Poll (bounded) for something the background sweeper does; not a timing assertion."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


# --- acquire -------------------------------------------------------------------------------


def test_acquire_returns_the_lease_with_status_and_holder(agents):
    alice = agents["alice"]
    intent_id = new_intent(alice)
    response = acquire(alice, intent_id, duration=120)
    assert response.status_code == 201
    lease = response.json()
    assert lease["intent_id"] == intent_id and lease["scope"] == "hotel"
    assert lease["agent_id"] == "alice" and lease["status"] == "active"
    assert lease["created_at"] == lease["acquired_at"]
    assert lease["acquired_at"].endswith("+00:00") and lease["expires_at"].endswith("+00:00")
    assert lease["expires_at"] > lease["acquired_at"]
    assert lease["released_at"] is None
    log = [e for e in events(alice, intent_id) if e["event_type"] == "lease_acquired"]
    assert len(log) == 1 and log[0]["actor"] == "alice"
    assert log[0]["payload"]["lease_id"] == lease["id"]
    assert log[0]["payload"]["action"] == "acquired"


def test_a_held_scope_refuses_everyone_else_with_the_existing_lease(agents):
    alice, bob = agents["alice"], agents["bob"]
    intent_id = new_intent(alice)
    held = acquire(alice, intent_id).json()
    for client in (bob, alice):  # the holder cannot stack a second lease either
        body = assert_error(acquire(client, intent_id), 409)
        assert "lease" in body["message"].lower()
        assert body["existing_lease"]["id"] == held["id"]
        assert body["existing_lease"]["agent_id"] == "alice"
    other_scope = acquire(bob, intent_id, scope="flight")
    assert other_scope.status_code == 201
    other_intent = acquire(bob, new_intent(alice))
    assert other_intent.status_code == 201
    assert lease_events(alice, intent_id) == [
        ("lease_acquired", "acquired"),
        ("lease_acquired", "acquired"),
    ]


@pytest.mark.parametrize("duration", [0, -5, 86_401])
def test_duration_outside_bounds_is_refused(agents, duration):
    alice = agents["alice"]
    intent_id = new_intent(alice)
    body = assert_error(acquire(alice, intent_id, duration=duration), 400)
    assert body["errors"][0]["field"] == "duration_seconds"
    assert alice.get(f"/api/v1/intents/{intent_id}/leases").json()["leases"] == []


def test_the_longest_allowed_duration_is_accepted(agents):
    alice = agents["alice"]
    assert acquire(alice, new_intent(alice), duration=86_400).status_code == 201


def test_the_maximum_duration_is_configurable(tmp_path):
    with run_server(tmp_path / "oi.db", max_lease_seconds=60) as live, live.client("a") as a:
        intent_id = new_intent(a)
        assert_error(acquire(a, intent_id, duration=61), 400)
        assert acquire(a, intent_id, duration=60).status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {"duration_seconds": 60},
        {"scope": "", "duration_seconds": 60},
        {"scope": "   ", "duration_seconds": 60},
        {"scope": "x" * 257, "duration_seconds": 60},
        {"scope": "/hotel", "duration_seconds": 60},
        {"scope": "hotel", "duration_seconds": "soon"},
        {"scope": "hotel", "duration_seconds": 1.5},
        {"scope": "hotel", "duration_seconds": 60, "owner": "me"},
    ],
)
def test_malformed_acquire_is_refused(agents, body):
    alice = agents["alice"]
    intent_id = new_intent(alice)
    assert_error(alice.post(f"/api/v1/intents/{intent_id}/leases", json=body), 400)
    assert alice.get(f"/api/v1/intents/{intent_id}/leases?status=all").json()["leases"] == []


def test_holder_identity_comes_from_the_agent_header_or_body(agents):
    alice, anonymous = agents["alice"], agents["anonymous"]
    intent_id = new_intent(alice)
    body = assert_error(acquire(anonymous, intent_id), 400)
    assert "X-Agent-ID" in body["message"]
    by_body = anonymous.post(
        f"/api/v1/intents/{intent_id}/leases",
        json={"scope": "hotel", "duration_seconds": 60, "agent_id": "carol"},
    )
    assert by_body.status_code == 201 and by_body.json()["agent_id"] == "carol"
    mismatch = alice.post(
        f"/api/v1/intents/{intent_id}/leases",
        json={"scope": "flight", "duration_seconds": 60, "agent_id": "carol"},
    )
    assert_error(mismatch, 400)
    # The API key is never the holder.
    for lease in alice.get("/api/v1/leases?status=all").json()["leases"]:
        assert lease["agent_id"] != alice.headers["X-API-Key"]


def test_unknown_intent_is_404(agents):
    alice = agents["alice"]
    assert_error(acquire(alice, "missing"), 404)
    assert_error(alice.get("/api/v1/intents/missing/leases"), 404)


def test_the_v1_alias_serves_leases(agents):
    alice = agents["alice"]
    intent_id = new_intent(alice)
    response = alice.post(
        f"/v1/intents/{intent_id}/leases", json={"scope": "hotel", "duration_seconds": 5}
    )
    assert response.status_code == 201


# --- renew ---------------------------------------------------------------------------------


def test_the_holder_renews_with_a_new_lifetime_from_now(agents):
    alice = agents["alice"]
    intent_id = new_intent(alice)
    lease = acquire(alice, intent_id, duration=5).json()
    renewed = alice.patch(
        f"/api/v1/intents/{intent_id}/leases/{lease['id']}", json={"duration_seconds": 600}
    )
    assert renewed.status_code == 200, renewed.text
    body = renewed.json()
    assert body["id"] == lease["id"] and body["status"] == "active"
    assert body["expires_at"] > lease["expires_at"] and body["renewed_at"] is not None
    assert lease_events(alice, intent_id) == [
        ("lease_acquired", "acquired"),
        ("lease_acquired", "renewed"),
    ]
    renewal = [e for e in events(alice, intent_id) if e["event_type"] == "lease_acquired"][-1]
    assert renewal["payload"]["duration_seconds"] == 600
    assert renewal["payload"]["expires_at"] == body["expires_at"]


def test_only_the_holder_may_renew(agents):
    alice, bob = agents["alice"], agents["bob"]
    intent_id = new_intent(alice)
    lease = acquire(alice, intent_id).json()
    path = f"/api/v1/intents/{intent_id}/leases/{lease['id']}"
    assert_error(bob.patch(path, json={"duration_seconds": 60}), 403)
    assert_error(agents["anonymous"].patch(path, json={"duration_seconds": 60}), 400)
    assert (
        alice.get(path.rsplit("/", 1)[0]).json()["leases"][0]["expires_at"] == lease["expires_at"]
    )


def test_renew_checks_bounds_and_existence(agents):
    alice = agents["alice"]
    intent_id = new_intent(alice)
    lease = acquire(alice, intent_id).json()
    path = f"/api/v1/intents/{intent_id}/leases/{lease['id']}"
    assert_error(alice.patch(path, json={"duration_seconds": 0}), 400)
    assert_error(alice.patch(path, json={"duration_seconds": 86_401}), 400)
    assert_error(
        alice.patch(f"/api/v1/intents/{intent_id}/leases/missing", json={"duration_seconds": 9}),
        404,
    )
    # A lease is addressed through its own intent only.
    other = new_intent(alice)
    assert_error(
        alice.patch(f"/api/v1/intents/{other}/leases/{lease['id']}", json={"duration_seconds": 9}),
        404,
    )


@pytest.mark.parametrize("ending", ["release", "revoke"])
def test_a_lease_that_ended_cannot_be_renewed(agents, ending):
    alice = agents["alice"]
    intent_id = new_intent(alice)
    lease = acquire(alice, intent_id).json()
    path = f"/api/v1/intents/{intent_id}/leases/{lease['id']}"
    if ending == "release":
        alice.delete(path)
    else:
        agents["operator"].post(path + "/revoke", json={"reason": "stuck"})
    body = assert_error(alice.patch(path, json={"duration_seconds": 60}), 409)
    assert "lease" in body["message"].lower()
    assert alice.get(f"/api/v1/intents/{intent_id}/leases").json()["leases"] == []


# --- release -------------------------------------------------------------------------------


def test_release_twice_is_harmless_and_logged_once(agents):
    alice = agents["alice"]
    intent_id = new_intent(alice)
    lease = acquire(alice, intent_id).json()
    path = f"/api/v1/intents/{intent_id}/leases/{lease['id']}"
    first = alice.delete(path)
    assert first.status_code == 200
    assert first.json()["status"] == "released" and first.json()["released_at"]
    second = alice.delete(path)
    assert second.status_code == 200 and second.json() == first.json()
    assert lease_events(alice, intent_id) == [
        ("lease_acquired", "acquired"),
        ("lease_released", "released"),
    ]
    assert acquire(agents["bob"], intent_id).status_code == 201


def test_only_the_holder_may_release(agents):
    alice, bob = agents["alice"], agents["bob"]
    intent_id = new_intent(alice)
    lease = acquire(alice, intent_id).json()
    path = f"/api/v1/intents/{intent_id}/leases/{lease['id']}"
    assert_error(bob.delete(path), 403)
    assert_error(agents["anonymous"].delete(path), 400)
    assert_error(alice.delete(f"/api/v1/intents/{intent_id}/leases/missing"), 404)
    assert [x["id"] for x in alice.get(path.rsplit("/", 1)[0]).json()["leases"]] == [lease["id"]]


# --- revoke --------------------------------------------------------------------------------


def test_revoke_records_who_and_why_and_frees_the_scope(agents):
    alice, operator = agents["alice"], agents["operator"]
    intent_id = new_intent(alice)
    lease = acquire(alice, intent_id).json()
    path = f"/api/v1/intents/{intent_id}/leases/{lease['id']}"
    revoked = operator.post(path + "/revoke", json={"reason": "agent is stuck"})
    assert revoked.status_code == 200, revoked.text
    body = revoked.json()
    assert body["status"] == "revoked" and body["agent_id"] == "alice"
    assert body["revoked_by"] == "operator" and body["revoke_reason"] == "agent is stuck"
    assert body["released_at"]
    released = [e for e in events(alice, intent_id) if e["event_type"] == "lease_released"]
    assert len(released) == 1 and released[0]["actor"] == "operator"
    assert released[0]["payload"] == {
        "lease_id": lease["id"],
        "scope": "hotel",
        "agent_id": "alice",
        "action": "revoked",
        "reason": "agent is stuck",
        "revoked_by": "operator",
    }
    again = assert_error(operator.post(path + "/revoke", json={"reason": "again"}), 409)
    assert "revoked" in again["message"]
    assert alice.delete(path).json()["status"] == "revoked"  # the holder's release is harmless
    assert acquire(agents["bob"], intent_id).status_code == 201


def test_revoke_needs_a_reason_and_an_actor(agents):
    alice, operator = agents["alice"], agents["operator"]
    intent_id = new_intent(alice)
    lease = acquire(alice, intent_id).json()
    path = f"/api/v1/intents/{intent_id}/leases/{lease['id']}/revoke"
    assert_error(operator.post(path, json={}), 400)
    assert_error(operator.post(path, json={"reason": "  "}), 400)
    assert_error(agents["anonymous"].post(path, json={"reason": "stuck"}), 400)
    assert_error(
        operator.post(f"/api/v1/intents/{intent_id}/leases/missing/revoke", json={"reason": "x"}),
        404,
    )
    assert alice.get(f"/api/v1/intents/{intent_id}/leases").json()["leases"][0]["status"] == (
        "active"
    )


def test_a_released_lease_cannot_be_revoked(agents):
    alice = agents["alice"]
    intent_id = new_intent(alice)
    lease = acquire(alice, intent_id).json()
    path = f"/api/v1/intents/{intent_id}/leases/{lease['id']}"
    alice.delete(path)
    body = assert_error(agents["operator"].post(path + "/revoke", json={"reason": "x"}), 409)
    assert "released" in body["message"]


# --- listing -------------------------------------------------------------------------------


def test_lists_filter_by_status_per_intent_and_across_intents(agents):
    alice, bob = agents["alice"], agents["bob"]
    first, second = new_intent(alice, "First"), new_intent(alice, "Second")
    active = acquire(alice, first, "a").json()
    released = acquire(alice, first, "b").json()
    alice.delete(f"/api/v1/intents/{first}/leases/{released['id']}")
    revoked = acquire(bob, second, "c").json()
    agents["operator"].post(
        f"/api/v1/intents/{second}/leases/{revoked['id']}/revoke", json={"reason": "r"}
    )
    other_active = acquire(bob, second, "d").json()

    def ids(path: str) -> list[str]:
        response = alice.get(path)
        assert response.status_code == 200, response.text
        return [lease["id"] for lease in response.json()["leases"]]

    assert ids(f"/api/v1/intents/{first}/leases") == [active["id"]]
    assert ids(f"/api/v1/intents/{first}/leases?status=released") == [released["id"]]
    assert ids(f"/api/v1/intents/{first}/leases?status=all") == [active["id"], released["id"]]
    assert ids("/api/v1/leases") == [active["id"], other_active["id"]]
    assert ids("/api/v1/leases?status=active") == [active["id"], other_active["id"]]
    assert ids("/api/v1/leases?status=revoked") == [revoked["id"]]
    assert ids("/api/v1/leases?status=expired") == []
    assert len(ids("/api/v1/leases?status=all")) == 4
    assert len(ids("/api/v1/leases?status=all&limit=2")) == 2
    assert ids("/api/v1/leases?status=all&agent_id=bob") == [revoked["id"], other_active["id"]]
    assert ids(f"/api/v1/intents/{first}/leases?status=all&agent_id=bob") == []
    assert_error(alice.get("/api/v1/leases?status=held"), 400)
    assert_error(alice.get(f"/api/v1/intents/{first}/leases?status=held"), 400)


# --- expiry --------------------------------------------------------------------------------


@pytest.fixture
def unswept(tmp_path) -> Iterator[LiveServer]:
    """A server whose sweeper effectively never runs: expiry must be judged on each request."""
    with run_server(tmp_path / "oi.db", lease_sweep_seconds=3600.0) as live:
        yield live


def test_expiry_is_judged_on_every_read_and_write_before_any_sweep(unswept):
    with unswept.client("alice") as alice, unswept.client("bob") as bob:
        intent_id = new_intent(alice)
        lease = acquire(alice, intent_id, duration=1).json()
        path = f"/api/v1/intents/{intent_id}/leases/{lease['id']}"
        wait_until(lambda: alice.get(f"/api/v1/intents/{intent_id}/leases").json()["leases"] == [])
        expired = alice.get(f"/api/v1/intents/{intent_id}/leases?status=expired").json()
        assert [x["status"] for x in expired["leases"]] == ["expired"]
        assert expired["leases"][0]["released_at"] == lease["expires_at"]
        # Another agent may take the scope: the stale row is marked expired in the same
        # transaction, and the log says so before the new acquisition.
        taken = acquire(bob, intent_id, duration=60)
        assert taken.status_code == 201, taken.text
        assert lease_events(alice, intent_id) == [
            ("lease_acquired", "acquired"),
            ("lease_released", "expired"),
            ("lease_acquired", "acquired"),
        ]
        expiry = next(e for e in events(alice, intent_id) if e["event_type"] == "lease_released")
        assert expiry["actor"] is None and expiry["payload"]["reason"] == "expired"
        # The old holder can neither revive nor double-release it.
        body = assert_error(alice.patch(path, json={"duration_seconds": 60}), 409)
        assert "expired" in body["message"]
        assert alice.delete(path).json()["status"] == "expired"
        active = alice.get("/api/v1/leases").json()["leases"]
        assert [(x["agent_id"], x["status"]) for x in active] == [("bob", "active")]
        assert len(lease_events(alice, intent_id)) == 3


def test_an_expired_lease_is_never_renewed_even_when_nobody_took_the_scope(unswept):
    with unswept.client("alice") as alice:
        intent_id = new_intent(alice)
        lease = acquire(alice, intent_id, duration=1).json()
        path = f"/api/v1/intents/{intent_id}/leases/{lease['id']}"
        wait_until(lambda: alice.get(f"/api/v1/intents/{intent_id}/leases").json()["leases"] == [])
        assert_error(alice.patch(path, json={"duration_seconds": 60}), 409)
        # The refusal still recorded the expiry (once), and revoking it is refused too.
        assert lease_events(alice, intent_id) == [
            ("lease_acquired", "acquired"),
            ("lease_released", "expired"),
        ]
        assert_error(alice.post(path + "/revoke", json={"reason": "late"}), 409)
        assert (
            alice.get(path.rsplit("/", 1)[0] + "?status=all").json()["leases"][0]["status"]
            == "expired"
        )


def test_the_sweeper_marks_expired_leases_and_logs_the_reason(tmp_path):
    with (
        run_server(tmp_path / "oi.db", lease_sweep_seconds=0.1) as live,
        live.client("alice") as alice,
    ):
        intent_id = new_intent(alice)
        lease = acquire(alice, intent_id, duration=1).json()
        kept = acquire(alice, intent_id, scope="long", duration=3600).json()
        wait_until(lambda: ("lease_released", "expired") in lease_events(alice, intent_id))
        released = [e for e in events(alice, intent_id) if e["event_type"] == "lease_released"]
        assert len(released) == 1
        assert released[0]["payload"]["lease_id"] == lease["id"]
        assert released[0]["payload"]["reason"] == "expired"
        everything = alice.get("/api/v1/leases?status=all").json()["leases"]
        assert {x["id"]: x["status"] for x in everything} == {
            lease["id"]: "expired",
            kept["id"]: "active",
        }


# --- lease-guarded state -------------------------------------------------------------------


def patch(client: httpx.Client, intent_id: str, path: str, value=1, op: str = "set"):
    version = client.get(f"/api/v1/intents/{intent_id}").json()["version"]
    return client.post(
        f"/api/v1/intents/{intent_id}/state",
        json={"patches": [{"op": op, "path": path, "value": value}]},
        headers={"If-Match": str(version)},
    )


def test_a_leased_scope_takes_patches_from_its_holder_only(agents):
    alice, bob = agents["alice"], agents["bob"]
    intent_id = new_intent(alice)
    lease = acquire(alice, intent_id, scope="hotel").json()
    before = alice.get(f"/api/v1/intents/{intent_id}").json()
    for path in ("/hotel/city", "/hotel", "hotel"):
        body = assert_error(patch(bob, intent_id, path, "Porto"), 409)
        assert "lease" in body["message"].lower()
        assert body["existing_lease"]["id"] == lease["id"]
    assert_error(patch(agents["anonymous"], intent_id, "/hotel/city"), 409)
    # The whole document includes the leased scope.
    assert_error(patch(bob, intent_id, "", {"other": 1}), 409)
    after = alice.get(f"/api/v1/intents/{intent_id}").json()
    assert after["version"] == before["version"] and after["state"] == before["state"]
    assert patch(alice, intent_id, "/hotel/city", "Lisbon").status_code == 200
    assert patch(bob, intent_id, "/flight", "TP123").status_code == 200
    # One patch list touching a leased scope is refused as a whole.
    version = alice.get(f"/api/v1/intents/{intent_id}").json()["version"]
    mixed = bob.post(
        f"/api/v1/intents/{intent_id}/state",
        json={
            "patches": [
                {"op": "set", "path": "/flight", "value": "x"},
                {"op": "set", "path": "/hotel/city", "value": "y"},
            ]
        },
        headers={"If-Match": str(version)},
    )
    assert_error(mixed, 409)
    state = alice.get(f"/api/v1/intents/{intent_id}").json()["state"]
    assert state == {"hotel": {"city": "Lisbon"}, "flight": "TP123"}


def test_the_guard_ends_with_the_lease(agents):
    alice, bob = agents["alice"], agents["bob"]
    intent_id = new_intent(alice)
    lease = acquire(alice, intent_id, scope="hotel").json()
    assert_error(patch(bob, intent_id, "/hotel/city"), 409)
    alice.delete(f"/api/v1/intents/{intent_id}/leases/{lease['id']}")
    assert patch(bob, intent_id, "/hotel/city", "Faro").status_code == 200


def test_an_expired_lease_guards_nothing(unswept):
    with unswept.client("alice") as alice, unswept.client("bob") as bob:
        intent_id = new_intent(alice)
        acquire(alice, intent_id, scope="hotel", duration=1)
        wait_until(lambda: alice.get(f"/api/v1/intents/{intent_id}/leases").json()["leases"] == [])
        assert patch(bob, intent_id, "/hotel/city", "Faro").status_code == 200


def test_a_stale_version_on_a_leased_scope_is_a_plain_version_conflict(agents):
    alice, bob = agents["alice"], agents["bob"]
    intent_id = new_intent(alice)
    acquire(alice, intent_id, scope="hotel")
    stale = bob.post(
        f"/api/v1/intents/{intent_id}/state",
        json={"patches": [{"op": "set", "path": "/flight", "value": 1}]},
        headers={"If-Match": "99"},
    )
    body = assert_error(stale, 409)
    assert "lease" not in str(body).lower()
