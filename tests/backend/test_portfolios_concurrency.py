"""Racing requests: each budget mark is logged once, a membership is created once, and a
portfolio auto-completes once, whatever the interleaving (checked in the log)."""

from __future__ import annotations

import asyncio


async def test_racing_costs_log_each_budget_mark_once(server):
    async with server.async_client() as api:
        intent = (
            await api.post(
                "/api/v1/intents",
                json={"title": "Race", "constraints": {"budget": {"max_total_cents": 100}}},
            )
        ).json()
        url = f"/api/v1/intents/{intent['id']}/costs"
        body = {"cost_type": "api_call", "amount": 10, "unit": "cents"}
        responses = await asyncio.gather(*(api.post(url, json=body) for _ in range(20)))
        assert [r.status_code for r in responses] == [201] * 20
        log = (await api.get(f"/api/v1/intents/{intent['id']}/events")).json()["events"]
        marks = [e["event_type"] for e in log if e["event_type"] != "intent_created"]
        assert marks == ["comment", "governance.violation"]
        # each mark was logged when the running total first reached it
        assert [e["payload"]["spent"] for e in log[1:]] == [80, 110]
        summary = (await api.get(url)).json()["summary"]
        assert summary["budget"]["spent"] == 200 and summary["count"] == 20


async def test_racing_adds_of_one_intent_make_one_membership(server):
    async with server.async_client() as api:
        portfolio = (await api.post("/api/v1/portfolios", json={"name": "Race"})).json()
        intent = (await api.post("/api/v1/intents", json={"title": "Member"})).json()
        url = f"/api/v1/portfolios/{portfolio['id']}/intents"
        responses = await asyncio.gather(
            *(api.post(url, json={"intent_id": intent["id"]}) for _ in range(20))
        )
        assert sorted(r.status_code for r in responses) == [201] + [409] * 19
        log = (await api.get(f"/api/v1/intents/{intent['id']}/events")).json()["events"]
        assert [e["event_type"] for e in log].count("added_to_portfolio") == 1


async def test_racing_completions_complete_the_portfolio_once(server):
    async with server.async_client() as api:
        portfolio = (
            await api.post(
                "/api/v1/portfolios",
                json={"name": "Race", "governance_policy": {"auto_complete_threshold": 50}},
            )
        ).json()
        ids = []
        for n in range(10):
            intent = (
                await api.post("/api/v1/intents", json={"title": f"M{n}", "status": "active"})
            ).json()
            await api.post(
                f"/api/v1/portfolios/{portfolio['id']}/intents", json={"intent_id": intent["id"]}
            )
            ids.append(intent["id"])
        responses = await asyncio.gather(
            *(
                api.post(
                    f"/api/v1/intents/{i}/status",
                    json={"status": "completed"},
                    headers={"If-Match": "1"},
                )
                for i in ids
            )
        )
        assert [r.status_code for r in responses] == [200] * 10
        events = (await api.get("/api/v1/events", params={"limit": 1000})).json()["events"]
        completions = [
            e
            for e in events
            if e["event_type"] == "status_changed" and e.get("portfolio_id") == portfolio["id"]
        ]
        assert len(completions) == 1
        assert completions[0]["payload"]["aggregate"]["completion_percentage"] == 50
