"""Every federation call of the SDK's AsyncOpenIntentClient against two of our servers."""

from __future__ import annotations

import asyncio

import pytest
from openintent import AsyncOpenIntentClient
from openintent.exceptions import ConflictError, NotFoundError
from openintent.federation.models import DispatchStatus


def client(live) -> AsyncOpenIntentClient:
    return AsyncOpenIntentClient(base_url=live.url, api_key=live.api_key, agent_id="async-op")


async def test_async_client_federation_calls(pair):
    a, b = pair
    async with client(a) as origin, client(b) as target:
        manifest = await origin.federation_discover()
        assert manifest["server_url"] == a.url
        status = await origin.federation_status()
        assert status.enabled and status.server_did == manifest["server_did"]
        assert await target.list_federated_agents() == []

        intent = await origin.create_intent("Async job", "async", initial_state={"n": 1})
        result = await origin.federation_dispatch(intent.id, b.url, agent_id="worker")
        assert result.status == DispatchStatus.ACCEPTED

        async def accepted() -> dict:
            for _ in range(200):
                async with a.async_client() as api:
                    record = (
                        await api.get(f"/api/v1/federation/dispatches/{result.dispatch_id}")
                    ).json()
                if record["status"] == "accepted":
                    return record
                await asyncio.sleep(0.05)
            raise AssertionError(f"not accepted: {record}")

        record = await accepted()
        remote = await target.get_intent(record["remote_intent_id"])
        assert remote.title == "Async job"

        received = await target.federation_receive(
            dispatch_id="async-1",
            source_server=a.url,
            intent_id="origin-async",
            intent_title="Received asynchronously",
            agent_id="worker",
            idempotency_key="async-1",
        )
        assert received.accepted and received.local_intent_id
        again = await target.federation_receive(
            dispatch_id="async-1",
            source_server=a.url,
            intent_id="origin-async",
            intent_title="Received asynchronously",
            agent_id="worker",
            idempotency_key="async-1",
        )
        assert again.local_intent_id == received.local_intent_id
        with pytest.raises(ConflictError):
            await target.federation_receive(
                dispatch_id="async-1",
                source_server=a.url,
                intent_id="origin-async",
                intent_title="Changed",
            )

        url = f"{a.url}/api/v1/federation/callback"
        answer = await origin.send_federation_callback(
            url, result.dispatch_id, "budget_warning", {"spent_usd": 4.5}, trace_id="t-1"
        )
        assert answer == {
            "dispatch_id": result.dispatch_id,
            "accepted": True,
            "duplicate": False,
            "message": "Callback applied",
        }
        with pytest.raises(NotFoundError):
            await origin.send_federation_callback(url, "nope", "completed")
        events = await origin.get_events(intent.id)
        types = [e.event_type.value for e in events]
        assert "federation.budget_warning" in types and "federation.dispatched" in types
