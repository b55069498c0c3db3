"""Describe, graph, overview, the global event log, column layout and first run: driven by
keys against a real server on loopback."""

from __future__ import annotations

import json

import yaml

from openintent_tui.modals.confirm import ConfirmModal
from openintent_tui.modals.pick import PickModal
from openintent_tui.screens.describe import DescribeScreen
from openintent_tui.screens.events import EventsScreen
from openintent_tui.screens.graph import GraphScreen
from openintent_tui.screens.intent_detail import IntentDetailScreen
from openintent_tui.screens.intents import IntentsScreen
from openintent_tui.screens.overview import OverviewScreen
from openintent_tui.widgets.pulse_card import PulseCard
from openintent_tui.widgets.virtual_table import VirtualTable
from tests.tui.tui_support import create_intent, make_app, seed, wait_until

SIZE = (130, 36)


def screen_is(app, kind):
    return lambda: isinstance(app.screen, kind) and getattr(app.screen, "loaded", True)


async def started(app, pilot) -> IntentsScreen:
    root = app.screen
    assert isinstance(root, IntentsScreen)
    # A bound, not a timing check: under a full two-worker run (PostgreSQL tests beside it)
    # the first load once took over 10 s.
    await wait_until(
        pilot,
        lambda: root.loaded and app.connection_state == "live",
        limit=30,
        what="the first rows and a live stream",
    )
    return root


async def open_view(app, pilot, verb: str, kind) -> None:
    await pilot.press("colon", *verb, "enter")
    await wait_until(pilot, screen_is(app, kind), what=kind.__name__)


def text_of(widget) -> str:
    return str(widget.render())


# ---- describe ------------------------------------------------------------------------------


async def test_describe_shows_the_whole_object_as_json_or_yaml_and_copies(server):
    seeded = seed(server)
    launch = seeded.intents["Draft the Q3 launch plan"]
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        root = await started(app, pilot)
        assert root.table.move_to(launch)
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, DescribeScreen))
        describe = app.screen
        data = json.loads(describe.text)
        assert data["id"] == launch and data["state"]["outline"] == {"sections": 4}
        assert data["description"] == "Draft the Q3 launch plan."  # every field, not a summary
        await pilot.press("f")
        assert yaml.safe_load(describe.text) == data and describe.format == "yaml"
        await pilot.press("y")
        assert app.clipboard == launch
        await pilot.press("Y")
        assert json.loads(app.clipboard) == data
        await pilot.press("escape")
        assert app.screen is root
        await pilot.press("x")  # the graph of the selected intent
        await wait_until(pilot, screen_is(app, GraphScreen), what="graph")
        assert app.screen.intent_id == launch
        await pilot.press("escape")

        await pilot.press("2")  # leases: `d` describes the lease under the cursor
        await wait_until(pilot, lambda: getattr(app.screen, "loaded", False))
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, DescribeScreen))
        assert json.loads(app.screen.text)["id"] in seeded.leases.values()


# ---- the global event log ----------------------------------------------------------------


async def test_event_log_is_live_filters_and_opens_the_full_payload(server):
    seeded = seed(server)
    research = seeded.intents["Summarise customer interviews"]
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await open_view(app, pilot, "events", EventsScreen)
        log = app.screen
        assert isinstance(log, EventsScreen)
        kinds = {row.cells[2] for row in log.table.visible_rows}
        assert {"intent_created", "lease_acquired", "arbitration_requested"} <= kinds

        await pilot.press("t", *"lease_acq", "enter")
        await wait_until(pilot, lambda: log.event_filter.type == "lease_acq")
        assert {row.cells[2] for row in log.table.visible_rows} == {"lease_acquired"}
        await pilot.press("a", *"research", "enter")
        assert [row.cells[3] for row in log.table.visible_rows] == ["researcher"]
        await pilot.press("c")  # clear filters
        assert log.table.row_count == len(log.events)

        # A new event with a payload longer than any cell arrives live, on top.
        long_text = "x" * 300
        with server.client(agent_id="scribe") as api:
            api.post(
                f"/api/v1/intents/{research}/events",
                json={"event_type": "comment", "payload": {"text": long_text, "n": 1}},
            ).raise_for_status()
        await wait_until(
            pilot,
            lambda: log.table.visible_rows and log.table.visible_rows[0].cells[3] == "scribe",
            what="the live event on top",
        )
        await pilot.press("g", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DescribeScreen))
        assert json.loads(app.screen.text)["payload"] == {"text": long_text, "n": 1}

        await pilot.press("escape")
        await pilot.press("colon", *"events intent=nope bogus=1", "enter")
        assert any("has no option bogus=" in text for _, text in app.toasts)


# ---- graph and the detail screen's links -----------------------------------------------------


async def test_graph_and_detail_link_parent_children_dependencies(server):
    seeded = seed(server)
    with server.client(agent_id="planner") as api:
        parent = create_intent(api, "Ship the release")
        blocker = create_intent(api, "Sign the contract")
        child = create_intent(
            api, "Write the changelog", parent_intent_id=parent, depends_on=[blocker]
        )
        create_intent(api, "Proofread the changelog", parent_intent_id=child)
        api.post(
            f"/api/v1/intents/{child}/arbitrate",
            json={"reason": "Which tone?", "options": [{"label": "formal"}, {"label": "fun"}]},
        ).raise_for_status()
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press("colon", *f"open {child}", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, IntentDetailScreen))
        detail = app.screen
        await wait_until(pilot, detail.loaded.is_set)
        related = text_of(detail.query_one("#sec-related"))
        assert "Ship the release" in related and "Sign the contract" in related
        assert "Proofread the changelog" in related and parent not in related  # titles, not ids
        assert "Which tone?" in text_of(detail.query_one("#sec-arbitrations"))
        assert "Draft the Q3" not in text_of(detail.query_one("#sec-arbitrations"))
        assert seeded  # the other intents' arbitrations stay off this screen

        await pilot.press("enter")  # on the tail: this intent's log, payloads in full
        await wait_until(pilot, screen_is(app, EventsScreen), what="the intent's events")
        log = app.screen
        assert log.events and {e.intent_id for e in log.events.values()} == {child}
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is detail)

        await pilot.press("x")
        await wait_until(pilot, screen_is(app, GraphScreen), what="graph")
        graph = app.screen
        tree = graph.intent_tree
        labels = [str(node.label) for node in tree.root.children]
        assert labels[0].startswith("▲ parent Ship the release")
        groups = {str(n.label).split(" (")[0]: n for n in tree.root.children[1:]}
        assert [c.data.intent_id for c in groups["depends on"].children] == [blocker]
        grandchild = groups["children"].children[0]
        assert "Proofread the changelog" in str(grandchild.label)

        parent_node = tree.root.children[0]
        tree.move_cursor(parent_node)
        await pilot.press("right")  # its own relations are read when first expanded
        await wait_until(pilot, lambda: parent_node.children, what="the parent's relations")
        assert [str(n.label) for n in parent_node.children] == ["children (1)"]
        assert "Write the changelog" in str(parent_node.children[0].children[0].label)

        await pilot.press("enter")  # on the parent: opens it
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, IntentDetailScreen) and app.screen.intent_id == parent,
            what="the parent opened",
        )


# ---- overview ----------------------------------------------------------------------------


async def test_overview_counts_rates_and_what_needs_attention(server):
    seeded = seed(server)
    launch = seeded.intents["Draft the Q3 launch plan"]
    with server.client(agent_id="planner") as api:
        budget = {"max_total": 1000, "unit": "tokens", "alert_threshold_percent": 50}
        budgeted = create_intent(api, "Budgeted research", constraints={"budget": budget})
        api.post(
            f"/api/v1/intents/{budgeted}/costs",
            json={"cost_type": "tokens", "amount": 600, "unit": "tokens"},
        ).raise_for_status()
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.press("5")
        await wait_until(pilot, screen_is(app, OverviewScreen), what="overview")
        overview = app.screen
        counts = text_of(overview.query_one("#counts"))
        assert "7 intents" in counts and "active 4" in counts and "blocked 1" in counts
        budgets = text_of(overview.query_one("#body-budgets"))
        assert "alert" in budgets and "600/1,000 tokens Budgeted research" in budgets
        assert "2 waiting" in text_of(overview.query_one("#body-arbitrations"))
        leases = text_of(overview.query_one("#body-leases"))
        assert "0 of 2 active expire" in leases  # both were granted for an hour

        card = overview.query_one("#card-failures", PulseCard)
        before = sum(card.query_one("Sparkline").data)
        with server.client(agent_id="worker") as api:
            api.post(
                f"/api/v1/intents/{launch}/failures",
                json={"attempt_number": 1, "error_code": "E42", "error_message": "disk full"},
            ).raise_for_status()
        await wait_until(
            pilot,
            lambda: "disk full" in text_of(overview.query_one("#body-failures")),
            what="the failure from the stream",
        )
        await wait_until(pilot, lambda: sum(card.query_one("Sparkline").data) == before + 1)

        with server.client(agent_id="bot") as api:
            create_intent(api, "One more")
        await wait_until(
            pilot,
            lambda: "8 intents" in text_of(overview.query_one("#counts")),
            what="counts re-read after intent_created",
        )


# ---- layout --------------------------------------------------------------------------------


async def test_columns_fit_the_width_toggle_and_sort_by_header(server):
    seed(server)
    app = make_app(server)
    async with app.run_test(size=(80, 24)) as pilot:
        root = await started(app, pilot)
        table = root.table
        widths = dict(zip((c.key for c in table.columns), table.column_widths(), strict=True))
        assert widths["id"] == 0 and widths["status"] == 10  # dropped whole, not clipped
        assert sum(widths.values()) + sum(1 for w in widths.values() if w) - 1 <= 80

        await pilot.resize_terminal(200, 50)
        await pilot.pause(0.1)
        widths = dict(zip((c.key for c in table.columns), table.column_widths(), strict=True))
        assert widths["id"] == 36 and widths["title"] > 60  # full titles on a wide terminal

        await pilot.press("C")
        await wait_until(pilot, lambda: isinstance(app.screen, PickModal))
        await pilot.press("4")  # agents
        await wait_until(pilot, lambda: app.screen is root)
        assert "agents" in table.hidden_columns and table.column_widths()[3] == 0

        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, PickModal))
        await pilot.press("3")  # version
        await wait_until(pilot, lambda: app.screen is root)
        assert table.sort_key == "version" and not table.sort_reverse

        # A click on the TITLE header sorts by title, a second flips it; the arrow shows.
        title_x = table.column_widths()[0] + 2
        await pilot.click(VirtualTable, offset=(title_x, 0))
        assert table.sort_key == "title" and not table.sort_reverse
        await pilot.click(VirtualTable, offset=(title_x, 0))
        assert table.sort_reverse
        assert "TITLE ▼" in "".join(s.text for s in table.render_line(0))


# ---- first run ------------------------------------------------------------------------------


async def test_first_run_says_what_to_do_and_q_asks_before_quitting(server):
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        root = await started(app, pilot)
        text = root.table.empty_text
        assert "--demo" in text and "api-key" in text and "OpenIntentClient(" in text
        await pilot.press("y")
        assert f'base_url="{server.url}"' in app.clipboard and "create_intent" in app.clipboard

        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("n")
        await wait_until(pilot, lambda: app.screen is root)
        assert app.is_running
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await wait_until(pilot, lambda: not app.is_running, what="exit after yes")
