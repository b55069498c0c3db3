"""App-wide behaviour: verbs, palette, help, keymaps, read-only, contexts, network loss."""

from __future__ import annotations

import asyncio
from contextlib import ExitStack

from textual.widgets import Footer

from openintent_tui.app import OpenIntentApp
from openintent_tui.screens.arbitration import ArbitrationScreen, CaseScreen
from openintent_tui.screens.help import HelpScreen
from openintent_tui.screens.intents import IntentsScreen
from openintent_tui.screens.leases import LeasesScreen
from openintent_tui.screens.portfolios import PortfoliosScreen
from openintent_tui.widgets.status_bar import Crumbs, StatusBar
from tests.support import run_server
from tests.tui.tui_support import connection, create_intent, make_app, seed, wait_until

SIZE = (130, 36)


async def test_views_by_verb_number_and_escape_breadcrumbs(server):
    seed(server)
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.screen.loaded)
        for keys, kind in (
            (("colon", *"leases", "enter"), LeasesScreen),
            (("colon", *"arb", "enter"), ArbitrationScreen),
            (("4",), PortfoliosScreen),
            (("2",), LeasesScreen),
        ):
            await pilot.press(*keys)
            assert isinstance(app.screen, kind)
            # Top-level views sit right above the intents list: one esc goes home.
            assert [type(s) for s in app.screen_stack[1:]] == [IntentsScreen, kind]
        crumbs = str(app.screen.query_one(Crumbs).render())
        assert "Intents" in crumbs and "Leases" in crumbs
        await pilot.press("escape")
        assert isinstance(app.screen, IntentsScreen)
        await pilot.press("escape")  # nothing below the root: stays
        assert isinstance(app.screen, IntentsScreen)


async def test_unknown_verb_and_missing_argument_warn(server):
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("colon", *"frobnicate", "enter")
        await pilot.press("colon", *"open", "enter")
        await pilot.press("colon", *"ctx nowhere", "enter")
        warnings = [m for s, m in app.toasts if s == "warning"]
        assert warnings[0].startswith("Unknown command: frobnicate (try :intents, ")
        assert warnings[1].startswith(":open needs an intent id")
        assert warnings[2].startswith("No context 'nowhere'")
        assert app.is_running


async def test_quit_verb_exits(server):
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("colon", "q", "enter")
        await pilot.pause(0.1)
    assert app.return_code == 0


async def test_palette_runs_the_same_commands(server):
    seed(server)
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.screen.loaded)
        await pilot.press("ctrl+p")
        await pilot.press(*"arbitration queue")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ArbitrationScreen))
        await pilot.press("ctrl+p")
        await pilot.press(*"open intent migrate")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_until(pilot, lambda: getattr(app.screen, "intent_id", None) is not None)


async def test_help_lists_every_key_with_remaps_applied(server):
    app = make_app(server, keymap={"app.help": "f1", "intents.reload": "f5"})
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.screen.loaded)
        await pilot.press("question_mark")  # remapped away: does nothing
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.table
        rows = list(zip(*(column.cells for column in table.columns), strict=True))
        ids = {str(row[2]): str(row[0]) for row in rows}
        for binding_id in ("intents.filter", "table.down", "app.command", "app.back"):
            assert binding_id in ids
        assert ids["app.help"] == "f1" and ids["intents.reload"] == "f5"
        await pilot.press("escape")
        assert isinstance(app.screen, IntentsScreen)


async def test_status_bar_shows_context_operator_connection(server):
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.connection_state == "live")
        text = str(app.screen.query_one(StatusBar).render())
        assert "test" in text and server.url in text and "live" in text
        assert "operator alice" in text and "ev/s" in text and "READ-ONLY" not in text


async def test_read_only_hides_every_mutating_action(server):
    seed(server)
    app = make_app(server, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.screen.loaded)
        assert "READ-ONLY" in str(app.screen.query_one(StatusBar).render())
        await pilot.press("2")
        leases = app.screen
        await wait_until(pilot, lambda: leases.loaded)
        shown = {b.binding.action for b in app.screen.active_bindings.values() if b.enabled}
        for action in ("grant", "renew", "release", "revoke"):
            assert action not in shown
        assert "Release" not in str(app.screen.query_one(Footer).render())
        await pilot.press("x", "y", "X", "n", "e")
        assert leases.table.row_count == 2 and app.screen is leases
        await pilot.press("3")
        await wait_until(pilot, lambda: app.screen.loaded)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, CaseScreen))
        case = app.screen
        await pilot.press("1", "d", "w")
        assert app.screen is case and case.picked == 1 and not case.decided
    with server.client() as api:
        assert len(api.get("/api/v1/leases").json()["leases"]) == 2
        assert len(api.get("/api/v1/arbitrations").json()["arbitrations"]) == 2


async def test_read_only_context_is_read_only_too(server):
    app = OpenIntentApp(connection(server, read_only=True))
    async with app.run_test(size=SIZE):
        assert app.read_only


async def test_switch_context_reloads_from_the_other_server(server, tmp_path):
    seed(server)
    with run_server(tmp_path / "other.db") as other:
        with other.client() as api:
            create_intent(api, "Only on the other server")
        contexts = {"one": connection(server, name="one"), "two": connection(other, name="two")}
        app = OpenIntentApp(contexts["one"], contexts=contexts)
        async with app.run_test(size=SIZE) as pilot:
            root = app.screen
            await wait_until(pilot, lambda: root.loaded and root.table.row_count == 6)
            await pilot.press("2")
            await pilot.press("colon", *"ctx two", "enter")
            assert app.screen is root
            await wait_until(pilot, lambda: root.table.row_count == 1, what="other context")
            assert root.table.visible_rows[0].cells[1] == "Only on the other server"
            await wait_until(pilot, lambda: app.connection_state == "live")
            assert other.url in str(root.query_one(StatusBar).render())


def head_sequence(api) -> int:
    events = api.get("/api/v1/events", params={"after": 0, "limit": 1000}).json()["events"]
    return events[-1]["global_sequence"] if events else 0


async def test_server_restart_mid_stream_survives_and_backfills(tmp_path):
    db = tmp_path / "oi.db"
    first_server = ExitStack()
    first = first_server.enter_context(run_server(db))
    port = int(first.url.rsplit(":", 1)[1])
    try:
        with first.client() as api:
            create_intent(api, "Before the outage")
            head_before = head_sequence(api)
        app = OpenIntentApp(connection(first))
        async with app.run_test(size=SIZE) as pilot:
            root = app.screen
            await wait_until(pilot, lambda: root.loaded and app.connection_state == "live")
            seen_before = app.events_seen

            # The server goes away under the open stream (stopped in a thread: the UI runs on).
            await asyncio.to_thread(first_server.close)
            await wait_until(
                pilot, lambda: app.connection_state in ("reconnecting", "offline"), limit=30
            )
            status = str(root.query_one(StatusBar).render())
            assert "reconnecting" in status or "offline" in status
            assert "data may be stale" in status and root.table.stale

            # While it is down, another process on the same database keeps working.
            with run_server(db) as writer, writer.client(agent_id="night-shift") as api:
                missed = [create_intent(api, f"Missed {i}") for i in range(3)]
                head_after = head_sequence(api)

            # Back on the same port: the console reconnects, backfills, de-duplicates.
            with run_server(db, port=port) as again:
                app.action_reconnect()
                await wait_until(pilot, lambda: app.connection_state == "live", limit=30)
                await wait_until(
                    pilot,
                    lambda: all(root.table.get_row(i) is not None for i in missed),
                    what="missed intents",
                )
                await wait_until(
                    pilot, lambda: app.events_seen - seen_before == head_after - head_before
                )
                assert app.last_global_sequence == head_after  # gapless, and nothing twice
                assert not root.table.stale
                assert "data may be stale" not in str(root.query_one(StatusBar).render())
                with again.client() as api:
                    fresh = create_intent(api, "After the outage")
                await wait_until(pilot, lambda: root.table.get_row(fresh) is not None)
                assert app.is_running
    finally:
        first_server.close()


async def test_a_server_without_these_endpoints_shows_unavailable_not_a_crash(server):
    # Every route under this prefix answers the framework's plain 404, as the reference
    # server does for endpoints it lacks (listing intents, leases, arbitrations...).
    app = OpenIntentApp(connection(server, url=server.url + "/elsewhere"))
    async with app.run_test(size=SIZE) as pilot:
        root = app.screen
        await wait_until(pilot, lambda: root.unavailable is not None, what="intents refused")
        assert root.table.empty_text.startswith("This server cannot list intents")
        assert ("warning", "Listing intents: unavailable on this server") in app.toasts
        for key, kind in (("2", LeasesScreen), ("3", ArbitrationScreen), ("4", PortfoliosScreen)):
            await pilot.press(key)
            screen = app.screen
            assert isinstance(screen, kind)
            await wait_until(pilot, lambda screen=screen: screen.loaded)
            assert "unavailable on this server" in screen.table.empty_text
        await wait_until(pilot, lambda: app.connection_state == "unavailable", limit=20)
        assert "does not support" in str(app.screen.query_one(StatusBar).render())
        assert app.is_running
