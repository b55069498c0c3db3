"""SVG snapshots of the main screens, against a real server with frozen time and ids.

Regenerate after a deliberate UI change with `pytest tests/tui/test_snapshots.py
--snapshot-update`, then look at the SVGs before committing them.
"""

from __future__ import annotations

import itertools
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

import backend.store.sqlite.core as store_core
from openintent_tui.app import OpenIntentApp
from openintent_tui.screens.arbitration import ArbitrationScreen, CaseScreen
from openintent_tui.screens.describe import DescribeScreen
from openintent_tui.screens.events import EventsScreen
from openintent_tui.screens.graph import GraphScreen
from openintent_tui.screens.intent_detail import IntentDetailScreen
from openintent_tui.screens.leases import LeasesScreen
from openintent_tui.screens.overview import OverviewScreen
from openintent_tui.screens.portfolios import PortfolioScreen, PortfoliosScreen
from openintent_tui.widgets.event_tail import EventTail
from tests.support import LiveServer, run_server
from tests.tui.tui_support import Seeded, connection, create_intent, seed, wait_until

SERVER_TIME = "2030-01-01T09:00:00+00:00"
CONSOLE_TIME = datetime.fromisoformat("2030-01-01T09:30:00+00:00")
SIZE = (120, 34)


class FrozenApp(OpenIntentApp):
    """Clocks stopped and the random port hidden, so every run draws the same screen."""

    clock = staticmethod(lambda: CONSOLE_TIME)
    ticks = staticmethod(lambda: 1000.0)

    def status_view(self) -> dict[str, Any]:
        return {**super().status_view(), "server": "http://127.0.0.1:8000"}


SMALL, LARGE = (80, 24), (200, 50)
"""The narrowest terminal the console is made for, and a wide one."""


def freeze(monkeypatch) -> None:
    counter = itertools.count(1)

    def next_uid() -> str:
        return str(uuid.UUID(int=next(counter), version=4))

    # Every store module takes its ids from `new_uid`, imported by name.
    for module in list(sys.modules.values()):
        if (module.__name__ or "").startswith("backend.store") and hasattr(module, "new_uid"):
            monkeypatch.setattr(module, "new_uid", next_uid)
    monkeypatch.setattr(store_core, "now_iso", lambda: SERVER_TIME)


@pytest.fixture
def frozen(tmp_path, monkeypatch) -> Iterator[tuple[LiveServer, Seeded]]:
    freeze(monkeypatch)
    with run_server(tmp_path / "snap.db") as live:
        yield live, seed(live)


@pytest.fixture
def frozen_empty(tmp_path, monkeypatch) -> Iterator[LiveServer]:
    freeze(monkeypatch)
    with run_server(tmp_path / "empty.db") as live:
        yield live


def app_for(live: LiveServer) -> FrozenApp:
    return FrozenApp(connection(live, name="demo"))


async def ready(pilot) -> None:
    app = pilot.app
    await wait_until(pilot, lambda: app.screen.loaded and app.connection_state == "live")


async def reach(pilot, kind, *keys: str) -> None:
    await ready(pilot)
    await pilot.press(*keys)
    await wait_until(
        pilot,
        lambda: isinstance(pilot.app.screen, kind) and getattr(pilot.app.screen, "loaded", True),
    )
    await pilot.pause(0.2)


def test_intents_list(frozen, snap_compare):
    live, _ = frozen
    assert snap_compare(app_for(live), terminal_size=SIZE, run_before=ready)


def test_intent_detail(frozen, snap_compare):
    live, seeded = frozen
    launch = seeded.intents["Draft the Q3 launch plan"]

    async def run_before(pilot) -> None:
        await reach(pilot, IntentDetailScreen, "colon", *f"open {launch}", "enter")
        await wait_until(pilot, pilot.app.screen.loaded.is_set)
        await pilot.pause(0.3)

    assert snap_compare(app_for(live), terminal_size=SIZE, run_before=run_before)


def test_leases(frozen, snap_compare):
    live, _ = frozen

    async def run_before(pilot) -> None:
        await reach(pilot, LeasesScreen, "2")

    assert snap_compare(app_for(live), terminal_size=SIZE, run_before=run_before)


def test_arbitration_queue(frozen, snap_compare):
    live, _ = frozen

    async def run_before(pilot) -> None:
        await reach(pilot, ArbitrationScreen, "3")

    assert snap_compare(app_for(live), terminal_size=SIZE, run_before=run_before)


def test_arbitration_case_with_option_picked(frozen, snap_compare):
    live, _ = frozen

    async def run_before(pilot) -> None:
        await reach(pilot, ArbitrationScreen, "3")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, CaseScreen))
        await pilot.press("2")
        await pilot.pause(0.2)

    assert snap_compare(app_for(live), terminal_size=SIZE, run_before=run_before)


def test_portfolios(frozen, snap_compare):
    live, _ = frozen

    async def run_before(pilot) -> None:
        await reach(pilot, PortfoliosScreen, "4")

    assert snap_compare(app_for(live), terminal_size=SIZE, run_before=run_before)


def test_portfolio_members(frozen, snap_compare):
    live, _ = frozen

    async def run_before(pilot) -> None:
        await reach(pilot, PortfoliosScreen, "4")
        await pilot.press("enter")
        await wait_until(
            pilot,
            lambda: isinstance(pilot.app.screen, PortfolioScreen) and pilot.app.screen.loaded,
        )
        await pilot.pause(0.2)

    assert snap_compare(app_for(live), terminal_size=SIZE, run_before=run_before)


def test_help(frozen, snap_compare):
    live, _ = frozen

    async def run_before(pilot) -> None:
        await ready(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.2)

    assert snap_compare(app_for(live), terminal_size=SIZE, run_before=run_before)


# ---- at the narrowest and a wide terminal ---------------------------------------------------

SIZES = pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "200x50"])


@SIZES
def test_intents_list_fits(frozen, snap_compare, size):
    live, _ = frozen
    assert snap_compare(app_for(live), terminal_size=size, run_before=ready)


@SIZES
def test_intent_detail_fits(frozen, snap_compare, size):
    live, seeded = frozen
    launch = seeded.intents["Draft the Q3 launch plan"]
    with live.client(agent_id="planner") as api:
        create_intent(api, "Book the launch venue", parent_intent_id=launch)

    async def run_before(pilot) -> None:
        await reach(pilot, IntentDetailScreen, "colon", *f"open {launch}", "enter")
        await wait_until(pilot, pilot.app.screen.loaded.is_set)
        tail = pilot.app.screen.query_one(EventTail)
        await wait_until(pilot, lambda: len(tail.lines) >= 6, what="the tail's backfill")
        await pilot.pause(0.3)

    assert snap_compare(app_for(live), terminal_size=size, run_before=run_before)


@SIZES
@pytest.mark.parametrize(
    ("kind", "key"),
    [(LeasesScreen, "2"), (ArbitrationScreen, "3"), (PortfoliosScreen, "4")],
    ids=["leases", "arbitration", "portfolios"],
)
def test_lists_fit(frozen, snap_compare, size, kind, key):
    """The other list screens at both widths: columns dropped whole, never clipped."""
    live, _ = frozen

    async def run_before(pilot) -> None:
        await reach(pilot, kind, key)

    assert snap_compare(app_for(live), terminal_size=size, run_before=run_before)


@SIZES
def test_overview(frozen, snap_compare, size):
    live, _ = frozen

    async def run_before(pilot) -> None:
        await reach(pilot, OverviewScreen, "5")

    assert snap_compare(app_for(live), terminal_size=size, run_before=run_before)


@SIZES
def test_event_log(frozen, snap_compare, size):
    live, _ = frozen

    async def run_before(pilot) -> None:
        await reach(pilot, EventsScreen, "6")
        await pilot.pause(0.6)  # past the table's deferred rebuild

    assert snap_compare(app_for(live), terminal_size=size, run_before=run_before)


def test_describe_intent(frozen, snap_compare):
    live, _ = frozen

    async def run_before(pilot) -> None:
        await reach(pilot, DescribeScreen, "d")

    assert snap_compare(app_for(live), terminal_size=SMALL, run_before=run_before)


def test_graph(frozen, snap_compare):
    live, seeded = frozen
    launch = seeded.intents["Draft the Q3 launch plan"]
    with live.client(agent_id="planner") as api:
        venue = create_intent(api, "Book the launch venue", parent_intent_id=launch)
        create_intent(api, "Sign the venue contract", parent_intent_id=venue)
        create_intent(api, "Print the flyers", depends_on=[venue], parent_intent_id=launch)

    async def run_before(pilot) -> None:
        await reach(pilot, GraphScreen, "colon", *f"graph {launch}", "enter")
        await pilot.press("j", "j", "j", "j", "l")  # expand "Book the launch venue"
        await wait_until(pilot, lambda: pilot.app.screen.intent_tree.cursor_node.children)
        await pilot.pause(0.2)

    assert snap_compare(app_for(live), terminal_size=LARGE, run_before=run_before)


def test_first_run(frozen_empty, snap_compare):
    assert snap_compare(app_for(frozen_empty), terminal_size=SMALL, run_before=ready)
