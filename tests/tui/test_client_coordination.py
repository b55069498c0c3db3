"""The client's leases, arbitration and decisions against a real server."""

from __future__ import annotations

import pytest

from backend.wire.governance import Arbitration, Decision
from backend.wire.leases import Lease
from openintent_tui.client import ConflictError, OpenIntentClient, ValidationError
from tests.support import LiveServer


@pytest.fixture
async def oi(server: LiveServer):
    async with OpenIntentClient(server.url, server.api_key, agent_id="operator") as client:
        yield client


async def test_lease_lifecycle(oi: OpenIntentClient):
    intent = await oi.create_intent("Leased")
    lease = await oi.acquire_lease(intent.id, "code", 60, agent_id="worker-1")
    assert isinstance(lease, Lease)
    assert (lease.agent_id, lease.scope, lease.status) == ("worker-1", "code", "active")
    with pytest.raises(ConflictError) as held:
        await oi.acquire_lease(intent.id, "code", 60, agent_id="worker-2")
    assert held.value.existing_lease and held.value.existing_lease["id"] == lease.id
    renewed = await oi.renew_lease(intent.id, lease.id, 120, agent_id="worker-1")
    assert renewed.expires_at > lease.expires_at
    assert [x.id for x in await oi.list_leases()] == [lease.id]
    assert [x.id for x in await oi.intent_leases(intent.id)] == [lease.id]
    other = await oi.acquire_lease(intent.id, "docs", 60, agent_id="worker-2")
    assert [x.id for x in await oi.list_leases(agent_id="worker-2")] == [other.id]
    assert [x.id for x in await oi.intent_leases(intent.id, agent_id="worker-1")] == [lease.id]
    await oi.release_lease(intent.id, other.id, agent_id="worker-2")
    released = await oi.release_lease(intent.id, lease.id, agent_id="worker-1")
    assert released is not None and released.status == "released"
    assert await oi.list_leases() == []
    assert [x.status for x in await oi.list_leases(status="all")] == ["released"] * 2


async def test_revoke_needs_a_reason_and_is_attributed(oi: OpenIntentClient):
    intent = await oi.create_intent("Revoked")
    lease = await oi.acquire_lease(intent.id, "db", 60, agent_id="worker-1")
    with pytest.raises(ValidationError):
        await oi.revoke_lease(intent.id, lease.id, "  ")
    revoked = await oi.revoke_lease(intent.id, lease.id, "stuck")
    assert (revoked.status, revoked.revoked_by, revoked.revoke_reason) == (
        "revoked",
        "operator",
        "stuck",
    )
    assert await oi.intent_leases(intent.id) == []


async def test_arbitration_resolved_by_a_decision(oi: OpenIntentClient):
    intent = await oi.create_intent("Contested")
    case = await oi.request_arbitration(
        intent.id,
        "two agents disagree",
        options=[{"label": "A", "rationale": "cheap"}, {"label": "B"}],
        context={"cost": 3},
    )
    assert isinstance(case, Arbitration) and case.status == "pending"
    assert [o.label for o in case.options] == ["A", "B"]
    assert [a.id for a in await oi.list_arbitrations()] == [case.id]
    assert (await oi.get_arbitration(case.id)).reason == "two agents disagree"
    decision = await oi.record_decision(
        intent.id, "arbitration", "A", "cheaper", arbitration_id=case.id
    )
    assert isinstance(decision, Decision)
    assert (decision.decision_maker_id, decision.rationale) == ("operator", "cheaper")
    assert await oi.list_arbitrations() == []
    resolved = await oi.get_arbitration(case.id)
    assert (resolved.status, resolved.decision_id) == ("resolved", decision.id)
    assert [d.id for d in await oi.list_decisions(intent.id)] == [decision.id]
    assert [a.id for a in await oi.intent_arbitrations(intent.id)] == [case.id]
