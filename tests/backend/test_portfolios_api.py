"""Portfolios (RFC-0007) against the real server: members, aggregate, governance, errors."""

from __future__ import annotations

import pytest


def new_intent(api, title: str = "Member", **body) -> dict:
    response = api.post("/api/v1/intents", json={"title": title, **body})
    assert response.status_code == 201
    return response.json()


def new_portfolio(api, **body) -> dict:
    response = api.post("/api/v1/portfolios", json={"name": "Launch", **body})
    assert response.status_code == 201, response.text
    return response.json()


def add(api, portfolio_id: str, intent_id: str, **body):
    return api.post(
        f"/api/v1/portfolios/{portfolio_id}/intents", json={"intent_id": intent_id, **body}
    )


def set_intent_status(api, intent: dict, status: str) -> dict:
    current = api.get(f"/api/v1/intents/{intent['id']}").json()
    response = api.post(
        f"/api/v1/intents/{intent['id']}/status",
        json={"status": status},
        headers={"If-Match": str(current["version"])},
    )
    assert response.status_code == 200, response.text
    return response.json()


def global_log(api) -> list[dict]:
    return api.get("/api/v1/events", params={"limit": 1000}).json()["events"]


def test_create_with_null_description_list_and_filter(api):
    first = new_portfolio(api, description=None, metadata={"team": "a"})
    assert first["description"] is None and first["status"] == "active"
    assert first["created_by"] == "tester" and first["metadata"] == {"team": "a"}
    assert first["governance_policy"] == {}
    assert first["createdAt"] == first["created_at"] and first["updatedAt"] == first["updated_at"]
    second = new_portfolio(api, name="Other", created_by="planner")
    listed = api.get("/api/v1/portfolios").json()["portfolios"]
    assert [p["id"] for p in listed] == [first["id"], second["id"]]
    mine = api.get("/api/v1/portfolios", params={"created_by": "planner"}).json()["portfolios"]
    assert [p["id"] for p in mine] == [second["id"]]
    created = [e for e in global_log(api) if e["event_type"] == "portfolio_created"]
    assert [(e.get("intent_id"), e["portfolio_id"]) for e in created] == [
        (None, first["id"]),
        (None, second["id"]),
    ]


def test_members_aggregate_and_shared_constraints(api):
    portfolio = new_portfolio(
        api, governance_policy={"shared_constraints": {"deadline": "2026-03-31", "region": "eu"}}
    )
    one = new_intent(api, "One", constraints={"region": "us"})
    two = new_intent(api, "Two")
    membership = add(api, portfolio["id"], one["id"], role="primary", priority=5)
    assert membership.status_code == 201, membership.text
    body = membership.json()
    assert body["id"] and body["portfolio_id"] == portfolio["id"]
    assert (body["intent_id"], body["role"], body["priority"]) == (one["id"], "primary", 5)
    assert add(api, portfolio["id"], two["id"]).json()["role"] == "member"
    set_intent_status(api, two, "active")

    detail = api.get(f"/api/v1/portfolios/{portfolio['id']}").json()
    assert [i["id"] for i in detail["intents"]] == [one["id"], two["id"]]
    assert detail["intents"][0]["constraints"] == {"deadline": "2026-03-31", "region": "us"}
    assert detail["intents"][1]["constraints"] == {"deadline": "2026-03-31", "region": "eu"}
    assert detail["aggregate_status"]["total"] == 2
    assert detail["aggregate_status"]["by_status"] == {"draft": 1, "active": 1}
    assert detail["aggregate_status"]["completion_percentage"] == 0
    assert [m["role"] for m in detail["memberships"]] == ["primary", "member"]
    # the intent itself keeps its own constraints
    assert api.get(f"/api/v1/intents/{one['id']}").json()["constraints"] == {"region": "us"}

    members = api.get(f"/api/v1/portfolios/{portfolio['id']}/intents").json()
    assert [i["id"] for i in members["intents"]] == [one["id"], two["id"]]
    assert members["aggregate_status"] == detail["aggregate_status"]
    portfolios_of_one = api.get(f"/api/v1/intents/{one['id']}/portfolios").json()["portfolios"]
    assert [p["id"] for p in portfolios_of_one] == [portfolio["id"]]

    log = api.get(f"/api/v1/intents/{one['id']}/events").json()["events"]
    added = [e for e in log if e["event_type"] == "added_to_portfolio"]
    assert len(added) == 1 and added[0]["portfolio_id"] == portfolio["id"]
    assert added[0]["payload"]["membership_id"] == body["id"]


def test_duplicate_membership_is_409_without_the_lease_word(api):
    portfolio = new_portfolio(api)
    intent = new_intent(api)
    assert add(api, portfolio["id"], intent["id"]).status_code == 201
    again = add(api, portfolio["id"], intent["id"], role="primary")
    assert again.status_code == 409
    assert "already a member" in again.json()["message"]
    assert "lease" not in again.text.lower()
    detail = api.get(f"/api/v1/portfolios/{portfolio['id']}").json()
    assert [m["role"] for m in detail["memberships"]] == ["member"]


def test_unknown_portfolio_or_intent_is_404(api):
    portfolio = new_portfolio(api)
    intent = new_intent(api)
    assert add(api, "nope", intent["id"]).status_code == 404
    assert add(api, portfolio["id"], "nope").status_code == 404
    assert api.get("/api/v1/portfolios/nope").status_code == 404
    assert api.get("/api/v1/portfolios/nope/intents").status_code == 404
    assert api.patch("/api/v1/portfolios/nope/status", json={"status": "active"}).status_code == 404
    assert api.delete(f"/api/v1/portfolios/nope/intents/{intent['id']}").status_code == 404
    assert api.delete(f"/api/v1/portfolios/{portfolio['id']}/intents/nope").status_code == 404
    not_member = api.delete(f"/api/v1/portfolios/{portfolio['id']}/intents/{intent['id']}")
    assert not_member.status_code == 404 and "not a member" in not_member.json()["message"]
    assert api.get("/api/v1/intents/nope/portfolios").status_code == 404


def test_remove_member(api):
    portfolio = new_portfolio(api)
    intent = new_intent(api)
    add(api, portfolio["id"], intent["id"])
    removed = api.delete(f"/api/v1/portfolios/{portfolio['id']}/intents/{intent['id']}")
    assert removed.status_code == 204
    touched = api.get(f"/api/v1/portfolios/{portfolio['id']}").json()
    assert touched["updated_at"] > portfolio["updated_at"]
    assert api.get(f"/api/v1/portfolios/{portfolio['id']}").json()["intents"] == []
    assert api.get(f"/api/v1/intents/{intent['id']}/portfolios").json()["portfolios"] == []
    log = api.get(f"/api/v1/intents/{intent['id']}/events").json()["events"]
    assert [e["event_type"] for e in log][-2:] == ["added_to_portfolio", "removed_from_portfolio"]
    assert log[-1]["portfolio_id"] == portfolio["id"]
    # it can join again afterwards
    assert add(api, portfolio["id"], intent["id"]).status_code == 201


def test_status_updates_are_validated_and_logged(api):
    portfolio = new_portfolio(api)
    url = f"/api/v1/portfolios/{portfolio['id']}/status"
    bad = api.patch(url, json={"status": "finished"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "status"
    assert api.get(f"/api/v1/portfolios/{portfolio['id']}").json()["status"] == "active"
    done = api.patch(url, json={"status": "abandoned", "reason": "cancelled"})
    assert done.status_code == 200 and done.json()["status"] == "abandoned"
    same = api.patch(url, json={"status": "abandoned"})
    assert same.status_code == 200
    changes = [
        e
        for e in global_log(api)
        if e["event_type"] == "status_changed" and e.get("portfolio_id") == portfolio["id"]
    ]
    assert len(changes) == 1
    assert changes[0]["payload"]["old_status"] == "active"
    assert changes[0]["payload"]["reason"] == "cancelled"
    assert api.get("/api/v1/portfolios", params={"status": "abandoned"}).json()["portfolios"]
    assert api.get("/api/v1/portfolios", params={"status": "bogus"}).status_code == 400


def test_require_all_completed_completes_on_the_last_member_status_change(api):
    portfolio = new_portfolio(api, governance_policy={"require_all_completed": True})
    one, two = new_intent(api, "One", status="active"), new_intent(api, "Two", status="active")
    add(api, portfolio["id"], one["id"])
    add(api, portfolio["id"], two["id"])
    set_intent_status(api, one, "completed")
    assert api.get(f"/api/v1/portfolios/{portfolio['id']}").json()["status"] == "active"
    set_intent_status(api, two, "completed")
    detail = api.get(f"/api/v1/portfolios/{portfolio['id']}").json()
    assert detail["status"] == "completed"
    assert detail["aggregate_status"]["completion_percentage"] == 100
    automatic = [
        e
        for e in global_log(api)
        if e["event_type"] == "status_changed" and e.get("portfolio_id") == portfolio["id"]
    ]
    assert len(automatic) == 1 and automatic[0]["payload"]["automatic"] is True


def test_threshold_completes_on_membership_change(api):
    portfolio = new_portfolio(api, governance_policy={"auto_complete_threshold": 50})
    done = set_intent_status(api, new_intent(api, "Done", status="active"), "completed")
    pending = new_intent(api, "Pending")
    blocker = new_intent(api, "Blocker")
    add(api, portfolio["id"], pending["id"])
    add(api, portfolio["id"], blocker["id"])
    add(api, portfolio["id"], done["id"])  # 1 of 3 completed: 33 %
    assert api.get(f"/api/v1/portfolios/{portfolio['id']}").json()["status"] == "active"
    api.delete(f"/api/v1/portfolios/{portfolio['id']}/intents/{blocker['id']}")  # 1 of 2: 50 %
    assert api.get(f"/api/v1/portfolios/{portfolio['id']}").json()["status"] == "completed"


def test_a_portfolio_without_policy_or_members_never_completes_itself(api):
    plain = new_portfolio(api)
    empty = new_portfolio(api, governance_policy={"require_all_completed": True})
    done = set_intent_status(api, new_intent(api, status="active"), "completed")
    add(api, plain["id"], done["id"])
    assert api.get(f"/api/v1/portfolios/{plain['id']}").json()["status"] == "active"
    assert api.get(f"/api/v1/portfolios/{empty['id']}").json()["status"] == "active"


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"description": "no name"},
        {"name": "x", "governance_policy": {"auto_complete_threshold": 0}},
        {"name": "x", "governance_policy": {"require_all_completed": "yes"}},
        {"name": "x", "governance_policy": {"shared_constraints": "all"}},
        {"name": "x", "status": "active"},
    ],
)
def test_bad_portfolios_are_400_and_change_nothing(api, body):
    response = api.post("/api/v1/portfolios", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["message"]
    assert api.get("/api/v1/portfolios").json()["portfolios"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"role": "owner"},
        {"priority": "high"},
        {"priority": 10**30},
        {"intent_id": None},
        {"extra": 1},
    ],
)
def test_bad_memberships_are_400(api, body):
    portfolio = new_portfolio(api)
    intent = new_intent(api)
    response = api.post(
        f"/api/v1/portfolios/{portfolio['id']}/intents", json={"intent_id": intent["id"], **body}
    )
    assert response.status_code == 400, response.text
    assert api.get(f"/api/v1/portfolios/{portfolio['id']}").json()["intents"] == []


def test_member_ids_for_streams(server, api):
    import asyncio

    from backend.app import open_store
    from backend.domain.errors import NotFound

    portfolio = new_portfolio(api)
    intent = new_intent(api)
    add(api, portfolio["id"], intent["id"])

    async def read() -> list[str]:
        store = open_store(server.settings)
        await store.open()
        try:
            with pytest.raises(NotFound):
                await store.portfolio_member_ids("nope")
            return await store.portfolio_member_ids(portfolio["id"])
        finally:
            await store.close()

    assert asyncio.run(read()) == [intent["id"]]


def test_discovery_advertises_these_features(api):
    capabilities = api.get("/.well-known/openintent.json").json()["capabilities"]
    assert {"attachments", "cost-tracking", "retry-policies", "portfolios"} <= set(capabilities)


def test_the_v1_alias_serves_portfolios_too(api):
    created = api.post("/v1/portfolios", json={"name": "Alias"})
    assert created.status_code == 201
    assert api.get(f"/api/v1/portfolios/{created.json()['id']}").status_code == 200
