"""Assigning and unassigning agents on the intent detail, by keyboard alone, against a real
server on loopback; the server's log names the operator who did it."""

from __future__ import annotations

from typing import Any

from openintent_tui.modals.confirm import ConfirmModal
from openintent_tui.modals.pick import PickModal
from openintent_tui.modals.text_prompt import TextPrompt
from openintent_tui.screens.intent_detail import IntentDetailScreen
from openintent_tui.screens.intents import IntentsScreen
from tests.support import LiveServer
from tests.tui.test_status import OPERATOR, SIZE, footer_keys, open_detail, toasts
from tests.tui.tui_support import create_intent, make_app, wait_until

TITLE = "Staff the launch"


def agents_on_server(server: LiveServer, intent_id: str) -> list[str]:
    with server.client() as api:
        body = api.get(f"/api/v1/intents/{intent_id}/agents").json()
    return [a["agent_id"] for a in body["agents"]]


def agent_events(server: LiveServer, intent_id: str) -> list[tuple[str, str, str]]:
    """(event type, actor, agent) of every assignment change, oldest first."""
    with server.client() as api:
        events = api.get(f"/api/v1/intents/{intent_id}/events", params={"limit": 500}).json()
    return [
        (e["event_type"], e["actor"], e["payload"]["agent_id"])
        for e in events["events"]
        if e["event_type"] in ("agent_assigned", "agent_unassigned")
    ]


def staffed(server: LiveServer) -> str:
    """An active intent with `writer` assigned by the planner."""
    with server.client(agent_id="planner") as api:
        intent_id = create_intent(api, TITLE, "active")
        api.post(
            f"/api/v1/intents/{intent_id}/agents", json={"agent_id": "writer"}
        ).raise_for_status()
    return intent_id


def agents_shown(detail: Any) -> str:
    return str(detail.query_one("#sec-agents").render())


async def test_assign_and_unassign_by_keyboard_alone(server):
    intent_id = staffed(server)
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        detail = await open_detail(app, pilot, intent_id)
        # The footer is recomposed after the screen's bindings settle: wait for it.
        await wait_until(
            pilot, lambda: {"Assign", "Unassign"} <= set(footer_keys(detail)), what="footer keys"
        )
        assert "writer" in agents_shown(detail)

        # a: prompt for an agent id, enter assigns.
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, TextPrompt))
        await pilot.press(*"reviewer", "enter")
        await wait_until(pilot, lambda: "reviewer" in agents_shown(detail), what="assigned")
        assert agents_on_server(server, intent_id) == ["writer", "reviewer"]
        assert f"Assigned reviewer to “{TITLE}”" in toasts(app)

        # Refused before any request: a name with a space, an agent already assigned, esc.
        await pilot.press("a", *"two words", "enter")
        await pilot.press("a", *"writer", "enter")
        await pilot.press("a", *"someone", "escape")
        assert toasts(app, "warning") == [
            "Not an agent id: 'two words' (no spaces or /)",
            "writer is already assigned",
        ]
        assert app.screen is detail

        # u with two agents: pick which, then confirm; n keeps it.
        await pilot.press("u")
        await wait_until(pilot, lambda: isinstance(app.screen, PickModal))
        assert app.screen.values == ["writer", "reviewer"]
        await pilot.press("2")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        assert app.screen.question == f"Unassign reviewer from “{TITLE}”?"
        await pilot.press("n")
        assert app.screen is detail
        assert agents_on_server(server, intent_id) == ["writer", "reviewer"]
        await pilot.press("u", "2", "y")
        await wait_until(pilot, lambda: "reviewer" not in agents_shown(detail), what="unassigned")
        assert agents_on_server(server, intent_id) == ["writer"]
        assert f"Unassigned reviewer from “{TITLE}”" in toasts(app)

        # u with one agent: straight to the confirm.
        await pilot.press("u")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        assert app.screen.question == f"Unassign writer from “{TITLE}”?"
        await pilot.press("y")
        await wait_until(pilot, lambda: "none assigned" in agents_shown(detail))
        assert agents_on_server(server, intent_id) == []

        # u with none: says so.
        await pilot.press("u")
        assert app.screen is detail
        assert toasts(app, "warning")[-1] == f"No agent is assigned to “{TITLE}”"
        assert not toasts(app, "error")

        # The list, fed by the stream, agrees.
        await pilot.press("escape")
        root = app.screen
        assert isinstance(root, IntentsScreen)
        await wait_until(pilot, lambda: root.table.get_row(intent_id).cells[3] == "-")

    assert agent_events(server, intent_id) == [
        ("agent_assigned", "planner", "writer"),
        ("agent_assigned", OPERATOR, "reviewer"),
        ("agent_unassigned", OPERATOR, "reviewer"),
        ("agent_unassigned", OPERATOR, "writer"),
    ]


async def test_unassign_of_an_agent_already_gone_is_a_readable_error(server):
    intent_id = staffed(server)
    app = make_app(server, stream=False)  # no live reload: the screen still shows writer
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.screen.loaded)
        app.open_intent(intent_id)
        await wait_until(pilot, lambda: isinstance(app.screen, IntentDetailScreen))
        detail = app.screen
        await wait_until(pilot, detail.loaded.is_set, limit=20)
        with server.client(agent_id="planner") as api:
            api.delete(f"/api/v1/intents/{intent_id}/agents/writer").raise_for_status()
        await pilot.press("u", "y")
        await wait_until(pilot, lambda: toasts(app, "error"), what="error toast")
        assert toasts(app, "error") == [
            f"Unassign writer from “{TITLE}” failed: "
            f"Agent writer is not assigned to intent {intent_id}"
        ]
        await wait_until(pilot, lambda: "none assigned" in agents_shown(detail), what="reload")
        assert app.is_running


async def test_read_only_refuses_assign_and_unassign(server):
    intent_id = staffed(server)
    app = make_app(server, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        detail = await open_detail(app, pilot, intent_id)
        keys = footer_keys(detail)
        assert "Assign" not in keys and "Unassign" not in keys and "Grant" not in keys
        for key in ("a", "u"):
            await pilot.press(key)
            await pilot.pause(0.2)
            assert app.screen is detail, key
        detail.unassign("writer")  # past the key: refused before any request
        await wait_until(pilot, lambda: toasts(app, "warning"))
        assert toasts(app, "warning") == ["Read-only mode: nothing was changed"]
    assert agents_on_server(server, intent_id) == ["writer"]
    assert agent_events(server, intent_id) == [("agent_assigned", "planner", "writer")]
