"""The async client against a real server on loopback: intents, agents, events, errors."""

from __future__ import annotations

import pytest

from backend.wire.events import Event, EventPage
from backend.wire.intents import Intent, IntentList
from openintent_tui.client import (
    AuthError,
    ConflictError,
    ConnectionLost,
    NotFoundError,
    OpenIntentClient,
    Unavailable,
    ValidationError,
)
from tests.support import LiveServer


@pytest.fixture
async def oi(server: LiveServer):
    async with OpenIntentClient(server.url, server.api_key, agent_id="alice") as client:
        yield client


async def test_discovery_and_health(oi: OpenIntentClient):
    assert (await oi.health())["status"] == "ok"
    assert "intents" in (await oi.discover())["capabilities"]


async def test_intent_lifecycle(oi: OpenIntentClient):
    intent = await oi.create_intent("Ship it", description="d", state={"a": 1})
    assert isinstance(intent, Intent)
    assert intent.created_by == "alice" and intent.version == 1 and intent.state == {"a": 1}
    patched = await oi.patch_state(intent.id, 1, [{"op": "set", "path": "/b", "value": 2}])
    assert patched.state == {"a": 1, "b": 2} and patched.version == 2
    active = await oi.set_status(intent.id, patched.version, "active", reason="go")
    assert active.status == "active"
    assert (await oi.get_intent(intent.id)).version == active.version
    child = await oi.create_child(intent.id, "Part")
    assert child.parent_intent_id == intent.id
    assert [c.id for c in await oi.children(intent.id)] == [child.id]
    dependent = await oi.create_intent("After", depends_on=[intent.id])
    assert [d.id for d in await oi.dependencies(dependent.id)] == [intent.id]


async def test_list_intents_filters_and_pages(oi: OpenIntentClient):
    ids = [(await oi.create_intent(f"task {i}")).id for i in range(7)]
    page = await oi.list_intents(limit=3)
    assert isinstance(page, IntentList) and page.total == 7 and len(page.intents) == 3
    assert {i.id for i in await oi.list_all_intents(page_size=3)} == set(ids)
    assert [i.title for i in (await oi.list_intents(q="task 4")).intents] == ["task 4"]
    assert (await oi.list_intents(status="active")).total == 0


async def test_agents(oi: OpenIntentClient):
    intent = await oi.create_intent("Team")
    assignment = await oi.assign_agent(intent.id, "bob", role="reviewer")
    assert (assignment.agent_id, assignment.role) == ("bob", "reviewer")
    assert [a.agent_id for a in await oi.list_agents(intent.id)] == ["bob"]
    await oi.unassign_agent(intent.id, "bob")
    assert await oi.list_agents(intent.id) == []


async def test_events_per_intent_and_global(oi: OpenIntentClient):
    intent = await oi.create_intent("Log")
    logged = await oi.log_event(intent.id, "comment", {"text": "hi"})
    assert isinstance(logged, Event) and logged.actor == "alice"
    page = await oi.list_events(intent.id)
    assert isinstance(page, EventPage)
    assert [e.event_type for e in page.events] == ["intent_created", "comment"]
    first = await oi.list_events(intent.id, limit=1)
    rest = await oi.list_events(intent.id, cursor=first.next_cursor)
    assert [e.id for e in first.events + rest.events] == [e.id for e in page.events]
    comments = await oi.list_events(intent.id, event_type="comment")
    assert [e.id for e in comments.events] == [logged.id]
    after = await oi.events_after(page.events[0].global_sequence)
    assert [e.id for e in after.events] == [logged.id]


async def test_typed_errors(server: LiveServer, oi: OpenIntentClient):
    intent = await oi.create_intent("Versioned")
    with pytest.raises(ConflictError) as conflict:
        await oi.patch_state(intent.id, 99, [{"op": "set", "path": "/x", "value": 1}])
    assert conflict.value.current_version == 1 and conflict.value.status == 409
    with pytest.raises(NotFoundError) as missing:
        await oi.get_intent("no-such-intent")
    assert "no-such-intent" in missing.value.message
    with pytest.raises(ValidationError) as invalid:
        await oi.set_status(intent.id, 1, "sideways")
    assert invalid.value.status == 400 and invalid.value.message
    with pytest.raises(ValidationError):
        await oi.list_intents(limit=0)
    with pytest.raises(TypeError):
        await oi.create_intent("x", no_such_field=1)
    with pytest.raises(Unavailable) as unavailable:
        await oi.raw("GET", "/api/v1/no-such-endpoint")
    assert "does not support" in unavailable.value.message
    async with OpenIntentClient(server.url, "wrong-key") as stranger:
        with pytest.raises(AuthError) as denied:
            await stranger.list_intents()
    assert denied.value.status == 401


async def test_connection_lost_when_nothing_listens(tmp_path):
    from tests.support import loopback_socket

    sock = loopback_socket()
    port = sock.getsockname()[1]
    sock.close()  # bound then closed: nothing listens on it
    async with OpenIntentClient(f"http://127.0.0.1:{port}", "k", timeout=2) as oi:
        with pytest.raises(ConnectionLost) as lost:
            await oi.health()
    assert lost.value.status == 0 and "cannot connect" in lost.value.message
