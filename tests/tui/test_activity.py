"""`@`: the session's own changes, with their outcomes, against a real server."""

from __future__ import annotations

from openintent_tui.app import AUDIT_SIZE
from openintent_tui.screens.activity import ActivityScreen
from openintent_tui.screens.intents import IntentsScreen
from openintent_tui.screens.leases import LeasesScreen
from tests.tui.tui_support import make_app, seed, wait_until

SIZE = (130, 36)


def shown(app) -> str:
    return str(app.screen.query_one("#activity-log").render())


async def test_activity_lists_this_sessions_changes_and_refusals(server):
    seeded = seed(server)
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.screen.loaded)
        await pilot.press("at")
        await wait_until(pilot, lambda: isinstance(app.screen, ActivityScreen), what="@")
        assert "Nothing done from this console yet" in shown(app)

        await pilot.press("2")
        await wait_until(pilot, lambda: isinstance(app.screen, LeasesScreen) and app.screen.loaded)
        released = app.screen.table.visible_rows[0].key
        await pilot.press("x", "y")
        await wait_until(pilot, lambda: any("Released" in m for _, m in app.toasts))
        intent_id = next(iter(seeded.intents.values()))
        refused = await app.screen.mutate(
            "Release a lease that is not there",
            lambda: app.client.release_lease(intent_id, "no-such-lease"),
        )
        assert refused is None

        await pilot.press("colon", *"activity", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ActivityScreen), what=":activity")
        lines = [line for line in shown(app).splitlines() if line.strip()]
        assert len(lines) == 2, lines
        assert "test  done" in lines[0] and "Released " in lines[0]
        assert "test  failed  Release a lease that is not there: " in lines[1]
        assert "no-such-lease" in lines[1]  # the server's reason
        await pilot.press("escape")  # a top-level view: back to the intents list
        assert isinstance(app.screen, IntentsScreen)
    with server.client() as api:
        leases = api.get("/api/v1/leases", params={"status": "released"}).json()["leases"]
    assert [x["id"] for x in leases] == [released]  # the one change it lists as done


async def test_activity_keeps_showing_new_entries_once_its_log_is_full(server):
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.screen.loaded)
        for n in range(AUDIT_SIZE):
            app.audit(f"change {n}")
        await pilot.press("at")
        await wait_until(pilot, lambda: isinstance(app.screen, ActivityScreen), what="@")
        assert "change 199" in shown(app) and "change 0\n" in shown(app)
        app.audit("one more")  # the bounded log drops the oldest: same length as before
        await wait_until(pilot, lambda: "one more" in shown(app), what="the new entry")
        assert "change 0\n" not in shown(app)
