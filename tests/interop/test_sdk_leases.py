"""The official SDK's lease methods (sync and async clients) against our server."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from openintent import (
    AsyncOpenIntentClient,
    ConflictError,
    EventType,
    LeaseConflictError,
    LeaseStatus,
    NotFoundError,
    OpenIntentClient,
    OpenIntentError,
    ValidationError,
)
from openintent.models import IntentLease

from tests.interop.test_sdk_core import AsyncDriver
from tests.support import LiveServer, run_server


class AgentAsyncDriver(AsyncDriver):
    """AsyncDriver acting as a chosen agent."""

    def __init__(self, url: str, api_key: str, agent_id: str) -> None:
        self._agent_id = agent_id
        super().__init__(url, api_key)

    async def _make(self, url: str, api_key: str) -> AsyncOpenIntentClient:
        return AsyncOpenIntentClient(base_url=url, api_key=api_key, agent_id=self._agent_id)


def client_factory(kind: str, server: LiveServer) -> tuple[Callable[[str], Any], Callable]:
    made: list[Any] = []

    def make(agent_id: str) -> Any:
        if kind == "sync":
            client = OpenIntentClient(
                base_url=server.url, api_key=server.api_key, agent_id=agent_id
            )
        else:
            client = AgentAsyncDriver(server.url, server.api_key, agent_id)
        made.append(client)
        return client

    def close_all() -> None:
        for client in made:
            if kind == "sync":
                client._client.close()
            else:
                client.close()

    return make, close_all


@pytest.fixture(params=["sync", "async"])
def sdk_as(request, server) -> Iterator[Callable[[str], Any]]:
    """`sdk_as("alice")`: an official SDK client (sync or async) acting as that agent."""
    make, close_all = client_factory(request.param, server)
    yield make
    close_all()


def test_acquire_list_renew_release(sdk_as):
    alice = sdk_as("alice")
    intent = alice.create_intent("Trip", "")
    lease = alice.acquire_lease(intent.id, "hotel", 120)
    assert isinstance(lease, IntentLease)
    assert lease.intent_id == intent.id and lease.scope == "hotel"
    assert lease.agent_id == "alice" and lease.status is LeaseStatus.ACTIVE
    assert lease.created_at.tzinfo is not None and lease.expires_at > lease.created_at
    assert [x.id for x in alice.get_leases(intent.id)] == [lease.id]
    renewed = alice.renew_lease(intent.id, lease.id, 3600)
    assert renewed.id == lease.id and renewed.expires_at > lease.expires_at
    assert renewed.status is LeaseStatus.ACTIVE
    assert alice.release_lease(intent.id, lease.id) is None
    alice.release_lease(intent.id, lease.id)  # twice is harmless
    assert alice.get_leases(intent.id) == []


def test_a_held_scope_raises_lease_conflict_with_the_existing_lease(sdk_as):
    alice, bob = sdk_as("alice"), sdk_as("bob")
    intent = alice.create_intent("Trip", "")
    lease = alice.acquire_lease(intent.id, "hotel")
    with pytest.raises(LeaseConflictError) as caught:
        bob.acquire_lease(intent.id, "hotel")
    assert caught.value.status_code == 409
    assert caught.value.existing_lease["id"] == lease.id
    assert caught.value.existing_lease["agent_id"] == "alice"
    assert bob.acquire_lease(intent.id, "flight").agent_id == "bob"


def test_refusals_map_to_sdk_errors(sdk_as):
    alice, bob = sdk_as("alice"), sdk_as("bob")
    intent = alice.create_intent("Trip", "")
    with pytest.raises(ValidationError) as caught:
        alice.acquire_lease(intent.id, "hotel", 0)
    assert caught.value.errors[0]["field"] == "duration_seconds"
    with pytest.raises(NotFoundError):
        alice.acquire_lease("missing", "hotel")
    with pytest.raises(NotFoundError):
        alice.get_leases("missing")
    lease = alice.acquire_lease(intent.id, "hotel")
    for attempt in (
        lambda: bob.renew_lease(intent.id, lease.id, 60),
        lambda: bob.release_lease(intent.id, lease.id),
    ):
        with pytest.raises(OpenIntentError) as caught:
            attempt()
        assert caught.value.status_code == 403
    with pytest.raises(NotFoundError):
        alice.renew_lease(intent.id, "missing", 60)


def test_state_in_a_leased_scope_is_refused_to_others(sdk_as):
    alice, bob = sdk_as("alice"), sdk_as("bob")
    intent = alice.create_intent("Trip", "", initial_state={"hotel": None})
    alice.acquire_lease(intent.id, "hotel")
    with pytest.raises(LeaseConflictError) as caught:
        bob.update_state(intent.id, intent.version, {"hotel": "Ritz"})
    assert caught.value.existing_lease["agent_id"] == "alice"
    updated = alice.update_state(intent.id, intent.version, {"hotel": "Ritz"})
    assert updated.state.to_dict() == {"hotel": "Ritz"}
    # A stale version stays a plain version conflict.
    with pytest.raises(ConflictError) as stale:
        bob.update_state(intent.id, intent.version, {"flight": "TP1"})
    assert not isinstance(stale.value, LeaseConflictError)


def test_the_sdk_reads_the_log_after_renewals_and_revocations(sdk_as, server):
    alice = sdk_as("alice")
    intent = alice.create_intent("Trip", "")
    lease = alice.acquire_lease(intent.id, "hotel")
    alice.renew_lease(intent.id, lease.id, 600)
    with server.client("operator") as operator:
        revoked = operator.post(
            f"/api/v1/intents/{intent.id}/leases/{lease.id}/revoke", json={"reason": "stuck"}
        )
        assert revoked.status_code == 200
    second = alice.acquire_lease(intent.id, "hotel")
    alice.release_lease(intent.id, second.id)
    log = alice.get_events(intent.id)
    assert [e.event_type for e in log] == [
        EventType.INTENT_CREATED,
        EventType.LEASE_ACQUIRED,
        EventType.LEASE_ACQUIRED,
        EventType.LEASE_RELEASED,
        EventType.LEASE_ACQUIRED,
        EventType.LEASE_RELEASED,
    ]
    assert [e.payload["action"] for e in log[1:]] == [
        "acquired",
        "renewed",
        "revoked",
        "acquired",
        "released",
    ]
    assert log[3].actor == "operator" and log[3].payload["reason"] == "stuck"
    with pytest.raises(LeaseConflictError):
        alice.renew_lease(intent.id, lease.id, 60)


def test_an_expired_lease_cannot_be_renewed_through_the_sdk(tmp_path):
    with run_server(tmp_path / "oi.db", lease_sweep_seconds=3600.0) as live:
        for kind in ("sync", "async"):
            make, close_all = client_factory(kind, live)
            try:
                alice, bob = make("alice"), make("bob")
                intent = alice.create_intent("Trip", "")
                lease = alice.acquire_lease(intent.id, "hotel", 1)
                deadline = time.monotonic() + 15
                while alice.get_leases(intent.id):
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
                with pytest.raises(LeaseConflictError):
                    alice.renew_lease(intent.id, lease.id, 60)
                assert bob.acquire_lease(intent.id, "hotel").agent_id == "bob"
                assert [x.agent_id for x in alice.get_leases(intent.id)] == ["bob"]
                assert [e.event_type for e in alice.get_events(intent.id)][-2:] == [
                    EventType.LEASE_RELEASED,
                    EventType.LEASE_ACQUIRED,
                ]
            finally:
                close_all()


# The async client has no `lease()` context manager: these run on the sync client only.


@pytest.fixture
def sync_as(server) -> Iterator[Callable[[str], OpenIntentClient]]:
    make, close_all = client_factory("sync", server)
    yield make
    close_all()


def test_the_lease_context_manager_acquires_and_releases(sync_as):
    alice, bob = sync_as("alice"), sync_as("bob")
    intent = alice.create_intent("Trip", "")
    with alice.lease(intent.id, "hotel", 60) as lease:
        assert lease.status is LeaseStatus.ACTIVE
        assert [x.id for x in bob.get_leases(intent.id)] == [lease.id]
        with pytest.raises(LeaseConflictError):
            bob.acquire_lease(intent.id, "hotel")
    assert bob.get_leases(intent.id) == []
    with pytest.raises(RuntimeError), alice.lease(intent.id, "hotel"):
        raise RuntimeError("work failed")
    assert bob.get_leases(intent.id) == []  # released on the way out of the failure too
    with bob.lease(intent.id, "hotel") as taken:
        assert taken.agent_id == "bob"
    released = [e for e in bob.get_events(intent.id) if e.event_type is EventType.LEASE_RELEASED]
    assert [e.actor for e in released] == ["alice", "alice", "bob"]
