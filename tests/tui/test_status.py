"""Changing an intent's status from the keyboard, on the intents list and on the detail, against
a real server on loopback: every lifecycle step, final statuses confirmed (yes and no), a stale
version, read-only mode, and the server's log naming the operator."""

from __future__ import annotations

import io
import itertools
from typing import Any

import httpx
import pytest
from rich.console import Console

from openintent_tui.modals.confirm import ConfirmModal
from openintent_tui.modals.pick import PickModal
from openintent_tui.screens.help import HelpScreen
from openintent_tui.screens.intent_detail import IntentDetailScreen
from openintent_tui.screens.intents import IntentsScreen
from tests.support import LiveServer
from tests.tui.tui_support import create_intent, make_app, wait_until

SIZE = (130, 36)
OPERATOR = "alice"  # tui_support.connection's operator, sent as X-Agent-ID

# RFC-0001 written out here, not imported: a wrong rule in backend/domain must fail this test.
NEXT = {
    "draft": ["active", "abandoned"],
    "active": ["blocked", "suspended_awaiting_input", "completed", "abandoned"],
    "blocked": ["active", "abandoned"],
    "suspended_awaiting_input": ["active", "abandoned"],
}
FINAL = {"completed", "abandoned"}


# ---- helpers ---------------------------------------------------------------------------------


def on_server(server: LiveServer, intent_id: str) -> dict[str, Any]:
    with server.client() as api:
        response = api.get(f"/api/v1/intents/{intent_id}")
        response.raise_for_status()
        return response.json()


def status_events(server: LiveServer, intent_id: str) -> list[tuple[str, str, str]]:
    """(actor, old, new) of every status change in the intent's log, oldest first."""
    with server.client() as api:
        events = api.get(f"/api/v1/intents/{intent_id}/events", params={"limit": 500}).json()
    return [
        (e["actor"], e["payload"]["old_status"], e["payload"]["new_status"])
        for e in events["events"]
        if e["event_type"] == "status_changed"
    ]


def toasts(app, severity: str | None = None) -> list[str]:
    return [m for s, m in app.toasts if severity is None or s == severity]


async def open_list_at(app, pilot, title: str, typed: str | None = None) -> IntentsScreen:
    """The intents list, filtered by typing (`typed`, or the title) to the one intent."""
    root = app.screen
    assert isinstance(root, IntentsScreen)
    await wait_until(pilot, lambda: root.loaded and app.connection_state == "live")
    await pilot.press("slash", *(typed or title), "enter")
    assert [row.cells[1] for row in root.table.visible_rows] == [title]
    return root


async def open_detail(app, pilot, intent_id: str) -> IntentDetailScreen:
    await wait_until(pilot, lambda: app.screen.loaded and app.connection_state == "live")
    app.open_intent(intent_id)  # as enter on its row or `:open ID` do (tested elsewhere)
    await wait_until(pilot, lambda: isinstance(app.screen, IntentDetailScreen))
    detail = app.screen
    await wait_until(pilot, detail.loaded.is_set, limit=20, what="detail loaded")
    return detail


async def open_at(where: str, app, pilot, title: str, intent_id: str):
    """The screen the status is changed from: the filtered list or the intent's detail."""
    if where == "list":
        return await open_list_at(app, pilot, title)
    return await open_detail(app, pilot, intent_id)


async def open_picker(app, pilot) -> PickModal:
    await pilot.press("c")
    await wait_until(pilot, lambda: isinstance(app.screen, PickModal), what="status picker")
    return app.screen


def shown(screen, intent_id: str) -> tuple[str, int]:
    """(status, version) as the screen shows them."""
    if isinstance(screen, IntentsScreen):
        row = screen.table.get_row(intent_id)
        return row.cells[0], int(row.cells[2])
    return screen.intent.status, screen.intent.version


def help_text(app) -> str:
    assert isinstance(app.screen, HelpScreen)
    console = Console(width=160, file=io.StringIO())
    console.print(app.screen.table)
    return console.file.getvalue()


# ---- every step of the lifecycle -------------------------------------------------------------

WALK = ["draft", "active", "blocked", "active", "suspended_awaiting_input", "active", "completed"]


@pytest.mark.parametrize("where", ["list", "detail"])
async def test_every_forward_step_by_keyboard(server, where):
    title = "Walk the lifecycle"
    with server.client(agent_id="planner") as api:
        intent_id = create_intent(api, title, "draft")
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_at(where, app, pilot, title, intent_id)
        for step, (current, target) in enumerate(itertools.pairwise(WALK), 1):
            picker = await open_picker(app, pilot)
            assert picker.values == NEXT[current], current
            assert f"now {current}, version {step}" in picker.title_text
            index = picker.values.index(target)
            if step % 2:  # a digit picks at once; arrows then enter work as well
                await pilot.press(str(index + 1))
            else:
                await pilot.press(*["down"] * index, "enter")
            if target in FINAL:
                await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
                await pilot.press("y")
            await wait_until(
                pilot,
                lambda t=target, v=step + 1: shown(screen, intent_id) == (t, v),
                what=f"{current} -> {target} shown",
            )
            assert on_server(server, intent_id)["status"] == target
            assert f"“{title}”: {current} → {target}" in toasts(app)
        assert status_events(server, intent_id) == [
            (OPERATOR, a, b) for a, b in itertools.pairwise(WALK)
        ]
        # Completed is final: `c` explains instead of offering nothing.
        await pilot.press("c")
        assert app.screen is screen
        assert toasts(app, "warning")[-1] == (
            f"“{title}” is completed (a final status): no status can follow"
        )
        assert not toasts(app, "error")


async def test_abandon_from_every_open_status_confirming_first(server):
    starts = ["draft", "active", "blocked", "suspended_awaiting_input"]
    with server.client(agent_id="planner") as api:
        ids = {status: create_intent(api, f"Abandon from {status}", status) for status in starts}
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        for status, intent_id in ids.items():
            root = await open_list_at(app, pilot, f"Abandon from {status}", status[:5])
            version = on_server(server, intent_id)["version"]
            picker = await open_picker(app, pilot)
            assert picker.values == NEXT[status]
            await pilot.press(str(picker.values.index("abandoned") + 1))
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
            assert "final" in str(app.screen.question)
            await pilot.press("y")
            await wait_until(
                pilot, lambda r=root, i=intent_id: r.table.get_row(i).cells[0] == "abandoned"
            )
            assert on_server(server, intent_id)["version"] == version + 1
            assert status_events(server, intent_id)[-1] == (OPERATOR, status, "abandoned")
            await pilot.press("escape")  # clear the filter for the next one


async def test_final_status_confirm_no_changes_nothing(server):
    title = "Not done yet"
    with server.client(agent_id="planner") as api:
        intent_id = create_intent(api, title, "active")
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        detail = await open_detail(app, pilot, intent_id)
        for cancel in ("n", "escape"):
            picker = await open_picker(app, pilot)
            await pilot.press(str(picker.values.index("completed") + 1))
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
            assert app.screen.question.startswith(f"Mark “{title}” completed?")
            await pilot.press(cancel)
            assert app.screen is detail
        await pilot.pause(0.3)
        assert on_server(server, intent_id)["status"] == "active"
        assert on_server(server, intent_id)["version"] == 1
        assert status_events(server, intent_id) == []
        # The picker itself cancels too, with esc or q.
        for cancel in ("escape", "q"):
            await open_picker(app, pilot)
            await pilot.press(cancel)
            assert app.screen is detail
        assert on_server(server, intent_id)["version"] == 1
        # And yes does it.
        picker = await open_picker(app, pilot)
        await pilot.press(str(picker.values.index("completed") + 1), "y")
        await wait_until(pilot, lambda: on_server(server, intent_id)["status"] == "completed")
        await wait_until(pilot, lambda: shown(detail, intent_id) == ("completed", 2))
        assert status_events(server, intent_id) == [(OPERATOR, "active", "completed")]


# ---- stale version ---------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["list", "detail"])
async def test_stale_version_is_refused_readably_and_reloaded(server, where):
    title = "Contested intent"
    with server.client(agent_id="planner") as api:
        intent_id = create_intent(api, title, "active")
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_at(where, app, pilot, title, intent_id)
        picker = await open_picker(app, pilot)
        assert "version 1" in picker.title_text
        # Someone else changes the intent while the picker is open.
        with server.client(agent_id="bot") as api:
            api.post(
                f"/api/v1/intents/{intent_id}/state",
                json={"patches": [{"op": "set", "path": "/note", "value": "mine"}]},
                headers={"If-Match": "1"},
            ).raise_for_status()
        await pilot.press(str(picker.values.index("blocked") + 1))
        await wait_until(pilot, lambda: toasts(app, "error"), what="conflict toast")
        assert toasts(app, "error") == [
            f"Set “{title}” to blocked failed: it changed since you saw version 1 "
            "(now version 2); reloaded, check it and try again"
        ]
        assert on_server(server, intent_id)["status"] == "active"
        await wait_until(pilot, lambda: shown(screen, intent_id) == ("active", 2), what="reload")
        # Try again: the picker now sends the version it shows.
        picker = await open_picker(app, pilot)
        assert "version 2" in picker.title_text
        await pilot.press(str(picker.values.index("blocked") + 1))
        await wait_until(pilot, lambda: shown(screen, intent_id) == ("blocked", 3))
        assert status_events(server, intent_id) == [(OPERATOR, "active", "blocked")]


# ---- read-only, help ---------------------------------------------------------------------------


def footer_keys(screen) -> list[str]:
    return [key.description for key in screen.query("FooterKey")]


async def test_read_only_hides_and_refuses_status_change(server):
    title = "Look, don't touch"
    with server.client(agent_id="planner") as api:
        intent_id = create_intent(api, title, "active")
    app = make_app(server, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        root = await open_list_at(app, pilot, title)
        assert "Status" not in footer_keys(root)
        assert root.check_action("change_status", ()) is False
        await pilot.press("c")
        await pilot.pause(0.2)
        assert app.screen is root
        detail = await open_detail(app, pilot, intent_id)
        assert "Status" not in footer_keys(detail)
        await pilot.press("c")
        await pilot.pause(0.2)
        assert app.screen is detail
        # Even if an action got through, the request is refused before it is sent.
        detail.send_status(detail.intent, "blocked")
        await wait_until(pilot, lambda: toasts(app, "warning"))
        assert toasts(app, "warning") == ["Read-only mode: nothing was changed"]
    assert on_server(server, intent_id)["version"] == 1
    assert status_events(server, intent_id) == []


async def test_status_key_in_footer_and_help(server):
    with server.client(agent_id="planner") as api:
        intent_id = create_intent(api, "Helpful", "active")
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        root = await open_list_at(app, pilot, "Helpful")
        assert "Status" in footer_keys(root)
        await pilot.press("question_mark")
        text = help_text(app)
        assert "intents.status" in text and " c " in text
        await pilot.press("escape")
        await open_detail(app, pilot, intent_id)
        await pilot.press("question_mark")
        text = help_text(app)
        for binding_id in ("detail.status", "detail.assign", "detail.unassign"):
            assert binding_id in text


async def test_status_change_by_another_agent_reaches_the_open_detail(server):
    """The detail follows the live stream: a status set elsewhere shows without a key."""
    with server.client(agent_id="planner") as api:
        intent_id = create_intent(api, "Watched", "active")
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        detail = await open_detail(app, pilot, intent_id)
        with httpx.Client(base_url=server.url, headers={"X-API-Key": server.api_key}) as api:
            api.post(
                f"/api/v1/intents/{intent_id}/status",
                json={"status": "blocked"},
                headers={"If-Match": "1", "X-Agent-ID": "bot"},
            ).raise_for_status()
        await wait_until(pilot, lambda: shown(detail, intent_id) == ("blocked", 2))
