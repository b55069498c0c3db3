"""The unmodified official SDK (openintent 0.17.0) against our server on a loopback port.

Each test runs twice: with the sync `OpenIntentClient` and with `AsyncOpenIntentClient`
(driven on its own event loop in a thread, as an application would run it). The async client
has no create_child_intent / get_children / get_dependencies, and its create_intent sends no
parent or depends_on, so those tests run on the sync client only.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from openintent import (
    AsyncOpenIntentClient,
    ConflictError,
    EventType,
    IntentStatus,
    LeaseConflictError,
    NotFoundError,
    OpenIntentClient,
    ValidationError,
)

AGENT = "sdk-agent"


class AsyncDriver:
    """Calls an AsyncOpenIntentClient's coroutines on a private loop; same method names."""

    def __init__(self, url: str, api_key: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.client = self._run(self._make(url, api_key))

    async def _make(self, url: str, api_key: str) -> AsyncOpenIntentClient:
        return AsyncOpenIntentClient(base_url=url, api_key=api_key, agent_id=AGENT)

    def _run(self, coroutine) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=30)

    def __getattr__(self, name: str):
        method = getattr(self.client, name)
        return lambda *args, **kwargs: self._run(method(*args, **kwargs))

    def close(self) -> None:
        self._run(self.client.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


@pytest.fixture(params=["sync", "async"])
def sdk(request, server) -> Iterator[Any]:
    if request.param == "sync":
        client = OpenIntentClient(base_url=server.url, api_key=server.api_key, agent_id=AGENT)
        yield client
        client._client.close()
    else:
        driver = AsyncDriver(server.url, server.api_key)
        yield driver
        driver.close()


@pytest.fixture
def sync_sdk(server) -> Iterator[OpenIntentClient]:
    client = OpenIntentClient(base_url=server.url, api_key=server.api_key, agent_id=AGENT)
    yield client
    client._client.close()


def new_intent(sdk, title: str = "Research", **kwargs):
    return sdk.create_intent(title, "described", **kwargs)


def test_discover(sdk):
    doc = sdk.discover()
    assert doc["openApiUrl"] == "/docs/openapi.json"
    assert {"intents", "events", "agents"} <= set(doc["capabilities"])


def test_create_intent(sdk):
    intent = sdk.create_intent(
        "Research", "Find papers", constraints={"budget": 5}, initial_state={"progress": 0}
    )
    assert intent.id and intent.title == "Research"
    assert intent.description == "Find papers"
    assert intent.constraints == {"budget": 5}
    assert intent.state.to_dict() == {"progress": 0}
    assert intent.status is IntentStatus.DRAFT
    assert intent.version == 1
    assert intent.created_by == AGENT
    assert intent.created_at is not None and intent.created_at.tzinfo is not None


def test_create_intent_with_graph_links(sync_sdk):
    parent = new_intent(sync_sdk, "Parent")
    dependency = new_intent(sync_sdk, "Dependency")
    child = sync_sdk.create_intent("Child", parent_intent_id=parent.id, depends_on=[dependency.id])
    assert child.parent_intent_id == parent.id
    assert child.depends_on == [dependency.id]
    with pytest.raises(ValidationError):
        sync_sdk.create_intent("Orphan", parent_intent_id="missing")


def test_get_intent(sdk):
    created = new_intent(sdk, initial_state={"a": {"b": [1]}})
    fetched = sdk.get_intent(created.id)
    assert (fetched.id, fetched.title, fetched.version) == (created.id, "Research", 1)
    assert fetched.state.to_dict() == {"a": {"b": [1]}}
    with pytest.raises(NotFoundError):
        sdk.get_intent("no-such-intent")


def test_list_intents(sdk):
    first = new_intent(sdk, "First")
    second = new_intent(sdk, "Second")
    sdk.set_status(second.id, 1, IntentStatus.ACTIVE)
    listed = sdk.list_intents()
    assert [i.id for i in listed] == [second.id, first.id]
    active = sdk.list_intents(status=IntentStatus.ACTIVE)
    assert [i.id for i in active] == [second.id]
    assert [i.id for i in sdk.list_intents(limit=1, offset=1)] == [first.id]


def test_create_child_intent(sync_sdk):
    parent = new_intent(sync_sdk, "Parent")
    dependency = new_intent(sync_sdk, "Dependency")
    child = sync_sdk.create_child_intent(
        parent.id, "Child", "a sub-goal", initial_state={"x": 1}, depends_on=[dependency.id]
    )
    assert child.parent_intent_id == parent.id
    assert child.depends_on == [dependency.id]
    assert child.state.to_dict() == {"x": 1}
    with pytest.raises(NotFoundError):
        sync_sdk.create_child_intent("missing", "Child")


def test_get_children(sync_sdk):
    parent = new_intent(sync_sdk, "Parent")
    children = [sync_sdk.create_child_intent(parent.id, f"Child {i}") for i in range(2)]
    found = sync_sdk.get_children(parent.id)
    assert sorted(c.id for c in found) == sorted(c.id for c in children)
    assert all(c.parent_intent_id == parent.id for c in found)
    assert sync_sdk.get_children(children[0].id) == []


def test_get_dependencies(sync_sdk):
    first, second = new_intent(sync_sdk, "A"), new_intent(sync_sdk, "B")
    dependent = sync_sdk.create_intent("C", depends_on=[first.id, second.id])
    found = sync_sdk.get_dependencies(dependent.id)
    assert [d.id for d in found] == [first.id, second.id]
    assert sync_sdk.get_dependencies(first.id) == []


def test_update_state(sdk):
    intent = new_intent(sdk, initial_state={"keep": True})
    updated = sdk.update_state(intent.id, 1, {"progress": 0.5, "notes/raw": ["x"]})
    assert updated.version == 2
    assert updated.state.to_dict() == {"keep": True, "progress": 0.5, "notes/raw": ["x"]}
    again = sdk.update_state(intent.id, 2, {"progress": 1.0})
    assert again.version == 3 and again.state.get("progress") == 1.0


def test_update_state_with_a_stale_version_is_a_conflict_not_a_lease_conflict(sdk):
    intent = new_intent(sdk)
    sdk.update_state(intent.id, 1, {"a": 1})
    with pytest.raises(ConflictError) as caught:
        sdk.update_state(intent.id, 1, {"a": 2})
    assert not isinstance(caught.value, LeaseConflictError)
    assert caught.value.current_version == 2
    assert sdk.get_intent(intent.id).state.to_dict() == {"a": 1}
    with pytest.raises(NotFoundError):
        sdk.update_state("missing", 1, {"a": 1})


def test_set_status(sdk):
    intent = new_intent(sdk)
    active = sdk.set_status(intent.id, 1, IntentStatus.ACTIVE)
    assert active.status is IntentStatus.ACTIVE and active.version == 2
    blocked = sdk.set_status(intent.id, 2, IntentStatus.BLOCKED, reason="waiting")
    assert blocked.status is IntentStatus.BLOCKED and blocked.version == 3


def test_set_status_invalid_transition_is_a_validation_error(sdk):
    intent = new_intent(sdk)
    with pytest.raises(ValidationError) as caught:
        sdk.set_status(intent.id, 1, IntentStatus.COMPLETED)
    assert caught.value.errors and caught.value.errors[0]["field"] == "status"
    assert sdk.get_intent(intent.id).status is IntentStatus.DRAFT
    with pytest.raises(ConflictError):
        sdk.set_status(intent.id, 9, IntentStatus.ACTIVE)


def test_log_event(sdk):
    intent = new_intent(sdk)
    event = sdk.log_event(
        intent.id, EventType.COMMENT, {"note": "hello"}, trace_id="t-1", parent_event_id="p-1"
    )
    assert event.id and event.intent_id == intent.id
    assert event.event_type is EventType.COMMENT
    assert event.actor == AGENT
    assert event.payload == {"note": "hello"}
    assert event.sequence == 2
    assert (event.trace_id, event.parent_event_id) == ("t-1", "p-1")
    with pytest.raises(NotFoundError):
        sdk.log_event("missing", EventType.COMMENT)


def test_get_events(sdk):
    intent = new_intent(sdk)
    sdk.update_state(intent.id, 1, {"a": 1})
    sdk.log_event(intent.id, EventType.TOOL_CALL_STARTED, {"tool": "t"})
    log = sdk.get_events(intent.id)
    assert [e.event_type for e in log] == [
        EventType.INTENT_CREATED,
        EventType.STATE_PATCHED,
        EventType.TOOL_CALL_STARTED,
    ]
    assert [e.sequence for e in log] == [1, 2, 3]
    tools = sdk.get_events(intent.id, event_type=EventType.TOOL_CALL_STARTED)
    assert [e.payload for e in tools] == [{"tool": "t"}]
    assert len(sdk.get_events(intent.id, limit=2)) == 2
    # `since` as the SDK sends it: datetime.isoformat(), aware and naive.
    assert len(sdk.get_events(intent.id, since=log[0].created_at - timedelta(seconds=1))) == 3
    future = datetime.now(UTC) + timedelta(hours=1)
    assert sdk.get_events(intent.id, since=future) == []
    assert sdk.get_events(intent.id, since=future.replace(tzinfo=None)) == []


def test_assign_agent(sdk):
    intent = new_intent(sdk)
    assignment = sdk.assign_agent(intent.id)
    assert assignment["agent_id"] == AGENT and assignment["intent_id"] == intent.id
    other = sdk.assign_agent(intent.id, "helper")
    assert other["agent_id"] == "helper"
    assert sdk.assign_agent(intent.id, "helper") == other  # idempotent
    log = sdk.get_events(intent.id, event_type=EventType.AGENT_ASSIGNED)
    assert [e.payload["agent_id"] for e in log] == [AGENT, "helper"]
    with pytest.raises(NotFoundError):
        sdk.assign_agent("missing")


def test_unassign_agent(sdk):
    intent = new_intent(sdk)
    sdk.assign_agent(intent.id, "helper")
    assert sdk.unassign_agent(intent.id, "helper") is None
    log = sdk.get_events(intent.id, event_type=EventType.AGENT_UNASSIGNED)
    assert [e.payload["agent_id"] for e in log] == ["helper"]
    with pytest.raises(NotFoundError):
        sdk.unassign_agent(intent.id, "helper")
