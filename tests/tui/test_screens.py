"""Every screen and every action, driven by keys against a real server on loopback."""

from __future__ import annotations

from openintent_tui.screens.arbitration import ArbitrationScreen, CaseScreen
from openintent_tui.screens.intent_detail import IntentDetailScreen
from openintent_tui.screens.intents import IntentsScreen
from openintent_tui.screens.leases import LeasesScreen
from openintent_tui.screens.portfolios import PortfolioScreen, PortfoliosScreen
from openintent_tui.widgets.event_tail import EventTail
from openintent_tui.widgets.json_tree import JsonTree
from tests.tui.tui_support import create_intent, make_app, seed, wait_until

SIZE = (130, 36)


def screen_is(app, kind):
    return lambda: isinstance(app.screen, kind) and getattr(app.screen, "loaded", True)


async def open_view(app, pilot, verb: str, kind) -> None:
    await pilot.press("colon", *verb, "enter")
    await wait_until(pilot, screen_is(app, kind), what=kind.__name__)


# ---- intents ------------------------------------------------------------------------------


async def test_intents_list_counts_filter_sort_and_live_rows(server):
    seeded = seed(server)
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        root = app.screen
        assert isinstance(root, IntentsScreen)
        await wait_until(pilot, lambda: root.loaded and app.connection_state == "live")
        assert root.table.row_count == 6
        counts = str(root.query_one("#counts").render())
        assert "6 intents" in counts and "active 3" in counts and "blocked 1" in counts

        await pilot.press("slash", *"billing")
        assert [r.cells[1] for r in root.table.visible_rows] == ["Migrate billing to v2"]
        await pilot.press("escape")  # clears the filter
        assert root.table.row_count == 6

        await pilot.press("T")  # sort by title
        titles = [r.cells[1] for r in root.table.visible_rows]
        assert titles == sorted(titles, key=str.lower)
        await pilot.press("T")  # again: descending
        assert [r.cells[1] for r in root.table.visible_rows] == titles[::-1]

        await pilot.press("g", "y")  # copy the selected id
        assert app.clipboard == root.table.visible_rows[0].key
        row = root.table.get_row(seeded.intents["Draft the Q3 launch plan"])
        assert row.cells[3] == "writer" and row.cells[4] == "1"  # agents, leases

        # A new intent created by someone else shows up from the live stream.
        with server.client(agent_id="bot") as api:
            new_id = create_intent(api, "Arrived while watching")
        await wait_until(pilot, lambda: root.table.get_row(new_id) is not None, what="live row")
        assert "7 intents" in str(root.query_one("#counts").render())


async def test_intents_status_verb_and_open_by_enter(server):
    seeded = seed(server)
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        root = app.screen
        await wait_until(pilot, lambda: root.loaded)
        await pilot.press("colon", *"intents status=blocked", "enter")
        assert [r.cells[1] for r in root.table.visible_rows] == ["Migrate billing to v2"]
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, IntentDetailScreen))
        assert app.screen.intent_id == seeded.intents["Migrate billing to v2"]
        await pilot.press("escape")
        assert app.screen is root
        await pilot.press("colon", *"intents", "enter")
        assert root.table.row_count == 6


# ---- intent detail -------------------------------------------------------------------------


async def test_intent_detail_sections_and_live_tail(server):
    seeded = seed(server)
    launch = seeded.intents["Draft the Q3 launch plan"]
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.screen.loaded and app.connection_state == "live")
        await pilot.press("colon", *f"open {launch}", "enter")
        detail = app.screen
        assert isinstance(detail, IntentDetailScreen)
        await wait_until(pilot, detail.loaded.is_set, what="detail loaded")
        text = {
            name: str(detail.query_one(f"#sec-{name}").render())
            for name in ("agents", "leases", "decisions", "costs", "failures")
        }
        assert "writer" in text["agents"]
        assert "draft" in text["leases"] and "writer" in text["leases"]
        assert "1200 tokens" in text["costs"]
        assert "retry policy" in text["failures"]
        tree = detail.query_one(JsonTree)
        labels = [str(node.label) for node in tree.root.children]
        assert any(label.startswith("outline") for label in labels)
        tail = detail.query_one(EventTail)
        await wait_until(pilot, lambda: len(tail.lines) >= 4, what="backfilled tail")
        assert any("intent_created" in line for line, _ in tail.lines)

        # Live: a comment from an agent appears in the tail; scrolling up pauses follow.
        before = len(tail.lines)
        with server.client(agent_id="writer") as api:
            api.post(
                f"/api/v1/intents/{launch}/events",
                json={"event_type": "comment", "payload": {"text": "hello"}},
            ).raise_for_status()
        await wait_until(pilot, lambda: len(tail.lines) > before, what="live event in tail")
        assert "comment" in tail.lines[-1][0]
        tail.focus()
        await pilot.press("k")
        assert not tail.following
        with server.client(agent_id="writer") as api:
            api.post(
                f"/api/v1/intents/{launch}/events",
                json={"event_type": "comment", "payload": {"text": "again"}},
            ).raise_for_status()
        await wait_until(pilot, lambda: tail.unseen == 1, what="N new badge")
        assert "1 new" in tail.border_subtitle
        await pilot.press("G")
        assert tail.following and tail.unseen == 0


async def test_intent_detail_unknown_id_is_a_message_not_a_crash(server):
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.screen.loaded)
        # `:open` refuses such an id (test_console_mistakes); an intent deleted while it is
        # being opened still gets here.
        app.open_intent("no-such-intent")
        await wait_until(
            pilot, lambda: isinstance(app.screen, IntentDetailScreen) and app.screen.is_mounted
        )
        meta = app.screen.query_one("#meta")
        await wait_until(pilot, lambda: "Cannot load" in str(meta.render()))
        assert app.is_running


async def test_detail_grants_a_lease_from_the_form(server):
    seeded = seed(server)
    target = seeded.intents["Evaluate vendor contracts"]
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.screen.loaded)
        app.open_intent(target)
        await wait_until(pilot, lambda: isinstance(app.screen, IntentDetailScreen))
        detail = app.screen
        await wait_until(pilot, detail.loaded.is_set)
        # A scope the server refuses: a readable error, nothing granted.
        await pilot.press("n", *"legal", "tab", *"/review", "enter")
        await wait_until(pilot, lambda: any(s == "error" for s, _ in app.toasts))
        message = next(m for s, m in app.toasts if s == "error")
        assert message.startswith("Grant /review to legal failed: ") and "scope" in message
        # Intent is prefilled; focus starts on the agent field.
        await pilot.press("n", *"legal", "tab", *"review", "enter")
        await wait_until(pilot, lambda: "review" in str(detail.query_one("#sec-leases").render()))
        with server.client() as api:
            leases = api.get(f"/api/v1/intents/{target}/leases").json()["leases"]
        assert [(x["agent_id"], x["scope"]) for x in leases] == [("legal", "review")]


# ---- leases ---------------------------------------------------------------------------------


async def test_leases_countdown_renew_release_with_confirm(server):
    seeded = seed(server)
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.screen.loaded)
        await open_view(app, pilot, "leases", LeasesScreen)
        screen = app.screen
        assert screen.table.row_count == 2
        first = screen.table.visible_rows[0]
        line = screen.table.render_line(1).text
        assert "in 59m" in line or "in 1h" in line  # countdown column

        await pilot.press("e")  # renew: no confirm needed
        await wait_until(pilot, lambda: any("Renewed" in m for _, m in app.toasts))

        await pilot.press("x")  # release asks first; n cancels
        await pilot.press("n")
        assert screen.table.row_count == 2
        await pilot.press("x", "y")
        await wait_until(pilot, lambda: screen.table.row_count == 1, what="released")
        assert screen.table.get_row(first.key) is None
        assert any("Released" in m for _, m in app.toasts)
        assert seeded.leases  # the other lease still stands
        assert app.audit_log  # the operator's actions are logged


async def test_leases_revoke_needs_reason_and_confirm(server):
    seeded = seed(server)
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.screen.loaded)
        await open_view(app, pilot, "leases", LeasesScreen)
        screen = app.screen
        key = screen.table.cursor_key
        await pilot.press("X", "escape")  # cancelled at the reason prompt
        assert screen.table.row_count == 2
        await pilot.press("X", *"agent crashed", "enter", "y")
        await wait_until(pilot, lambda: screen.table.get_row(key) is None, what="revoked")
        lease = screen.leases.get(key)
        assert lease is None
        assert seeded.leases
        with server.client() as api:
            body = api.get("/api/v1/leases", params={"status": "revoked"}).json()
        assert [x["revoke_reason"] for x in body["leases"]] == ["agent crashed"]


async def test_leases_grant_conflict_is_a_readable_toast(server):
    seeded = seed(server)
    launch = seeded.intents["Draft the Q3 launch plan"]
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.screen.loaded)
        await open_view(app, pilot, "leases", LeasesScreen)
        screen = app.screen
        screen.table.move_to(seeded.leases["draft"])
        await pilot.press("n")  # intent prefilled from the selected lease
        await pilot.press(*"intruder", "tab", *"draft", "enter")
        await wait_until(pilot, lambda: any(s == "error" for s, _ in app.toasts), what="409")
        message = next(m for s, m in app.toasts if s == "error")
        assert message.startswith("Grant draft to intruder failed: ")
        assert "HTTP" not in message and "Traceback" not in message
        assert app.is_running
        assert screen.table.row_count == 2
        assert launch


# ---- arbitration ------------------------------------------------------------------------------


async def test_arbitration_resolved_by_keyboard_alone(server):
    seeded = seed(server)
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.screen.loaded)
        await pilot.press("3")  # the arbitration view
        await wait_until(pilot, screen_is(app, ArbitrationScreen))
        queue = app.screen
        assert queue.table.row_count == 2
        oldest = queue.table.visible_rows[0].key
        assert oldest == seeded.arbitrations[0]  # oldest first
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, CaseScreen))
        case = app.screen
        assert case.options == ["July 1", "July 15", "August 1"]
        await pilot.press("2", "d")  # pick, then record: it asks for the rationale
        await pilot.press(*"marketing needs two more weeks", "enter")
        await wait_until(pilot, lambda: app.screen is queue and queue.table.row_count == 1)
        assert queue.table.get_row(oldest) is None
        assert any("Decision recorded: July 15" in m for _, m in app.toasts)
        launch = seeded.intents["Draft the Q3 launch plan"]
        with server.client() as api:
            decisions = api.get(f"/api/v1/intents/{launch}/decisions").json()["decisions"]
        assert [(d["outcome"], d["decision_maker_id"], d["rationale"]) for d in decisions] == [
            ("July 15", "alice", "marketing needs two more weeks")
        ]


async def test_case_refuses_decision_without_an_option(server):
    seed(server)
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.screen.loaded)
        await open_view(app, pilot, "arb", ArbitrationScreen)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, CaseScreen))
        await pilot.press("d", "9")
        assert app.screen.picked is None
        assert [m for s, m in app.toasts if s == "warning"] == [
            "Pick an option first (1-9)",
            "There is no option 9",
        ]


# ---- portfolios ---------------------------------------------------------------------------------


async def test_portfolios_progress_members_and_drill_down(server):
    seeded = seed(server)
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.screen.loaded)
        await open_view(app, pilot, "portfolios", PortfoliosScreen)
        row = app.screen.table.visible_rows[0]
        assert row.cells[0] == "Q3 launch" and "33%" in row.cells[2]
        assert "blocked 1" in row.cells[4] and "completed 1" in row.cells[4]
        await pilot.press("enter")
        await wait_until(pilot, screen_is(app, PortfolioScreen))
        members = app.screen
        assert members.table.row_count == 3
        assert members.table.visible_rows[0].cells[0] == "active"  # by status
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, IntentDetailScreen))
        assert app.screen.intent_id == seeded.intents["Draft the Q3 launch plan"]
        await pilot.press("escape", "escape")
        assert isinstance(app.screen, PortfoliosScreen)
