"""The demo workspace and the simulated agents, against a real server."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from openintent_tui.client import OpenIntentClient
from openintent_tui.demo import run_agents, seed
from tests.support import LiveServer


@pytest.fixture
async def oi(server: LiveServer):
    async with OpenIntentClient(server.url, server.api_key, agent_id="operator") as client:
        yield client


async def test_seed_builds_a_workspace_with_every_feature(oi: OpenIntentClient):
    ws = await seed(oi)
    assert ws.skipped == []
    intents = await oi.list_all_intents()
    statuses = Counter(i.status for i in intents)
    assert set(statuses) == {
        "draft",
        "active",
        "blocked",
        "suspended_awaiting_input",
        "completed",
        "abandoned",
    }
    launch = ws.intents["launch"]
    assert len(await oi.children(launch)) == 6
    assert len(await oi.list_portfolios()) == 3
    checkout = await oi.get_portfolio(ws.portfolios["checkout"])
    assert checkout.aggregate_status is not None and checkout.aggregate_status.total == 7
    assert {lease.agent_id for lease in await oi.list_leases()} == {
        "coder-1",
        "coder-2",
        "ops-bot",
        "reviewer",
    }
    pending = await oi.list_arbitrations()
    assert len(pending) == 3 and all(len(case.options) >= 2 for case in pending)
    costs = await oi.get_costs(launch)
    assert costs.summary.budget is not None and costs.summary.budget.alerted
    assert len(await oi.list_failures(ws.intents["etl"])) == 2
    assert (await oi.get_retry_policy(ws.intents["etl"])).strategy == "exponential"
    assert len(await oi.list_attachments(launch)) == 1


async def test_agents_keep_producing_activity(oi: OpenIntentClient):
    await seed(oi)
    head = (await oi.events_after(0, limit=1000)).events[-1].global_sequence
    stop = asyncio.Event()
    done = await run_agents(oi, stop, interval=0, seed_value=7, max_actions=60)
    assert done >= 30  # conflicts are allowed to skip a few, not most
    fresh = (await oi.events_after(head, limit=1000)).events
    kinds = {e.event_type for e in fresh}
    assert {"state_patched", "tool_call_completed"} <= kinds
    assert {e.actor for e in fresh} <= {"planner", "coder-1", "coder-2", "reviewer", "ops-bot"}


async def test_agents_stop_when_told(oi: OpenIntentClient):
    await seed(oi)
    stop = asyncio.Event()
    task = asyncio.create_task(run_agents(oi, stop, interval=0.05))
    await asyncio.sleep(0.3)
    stop.set()
    async with asyncio.timeout(30):
        assert await task >= 0
    # the leases the agents took were given back on the way out
    held = {lease.scope for lease in await oi.list_leases()}
    assert held <= {"db", "code", "pipeline", "pages"}
