"""The intents list with a fleet larger than the console holds (issue 16), and live inserts
(issue 15, bug 3). A real server holds a few thousand intents, seeded through the store; a
counting transport around the real httpx one records what the console asks for.

The assertions are on behaviour (rows shown, rows requested), not on which paging parameter
was sent, so they hold for a server that pages by offset and one that pages by cursor."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.store.sqlite import SqliteStore
from backend.wire.intents import IntentCreate
from openintent_tui.app import OpenIntentApp
from openintent_tui.client.core import OpenIntentClient
from openintent_tui.client.errors import Unavailable
from openintent_tui.client.reference import ReferenceClient
from openintent_tui.contexts import ConnectionInfo
from openintent_tui.screens.intents import IntentsScreen
from tests.support import LiveServer, run_server
from tests.tui.tui_support import connection, create_intent, wait_until

FLEET = 3000
NEEDLES = range(0, FLEET, 100)
"""Every 100th intent's title holds "needle": spread over the whole list."""
PAGE = 100
WINDOW_PAGES = 5
MEMORY_ROWS = 1000
"""Thresholds scaled down with the fleet, so 3,000 intents count as "larger than held"."""


def title_of(n: int) -> str:
    return f"fleet {n:04d}" + (" needle" if n in NEEDLES else "")


async def _seed(path: Path) -> None:
    store = SqliteStore(path)
    await store.open()
    try:
        for start in range(0, FLEET, 250):
            # Concurrent creates share a commit; the writer takes them in order, so ids and
            # created_at still follow n (the assertions below rely on it).
            await asyncio.gather(
                *(
                    store.create_intent(
                        IntentCreate(title=title_of(n), status="draft" if n % 3 == 0 else "active"),
                        "seed",
                    )
                    for n in range(start, min(start + 250, FLEET))
                )
            )
    finally:
        await store.close()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory) -> Iterator[LiveServer]:
    path = tmp_path_factory.mktemp("fleet") / "fleet.db"
    asyncio.run(_seed(path))
    with run_server(path) as live:
        yield live


@pytest.fixture
def large(monkeypatch) -> None:
    monkeypatch.setattr(IntentsScreen, "PAGE_SIZE", PAGE)
    monkeypatch.setattr(IntentsScreen, "WINDOW_PAGES", WINDOW_PAGES)
    monkeypatch.setattr(IntentsScreen, "MEMORY_ROWS", MEMORY_ROWS)


class Counting(httpx.AsyncBaseTransport):
    """The real transport, recording each intents-list request."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.lists: list[httpx.QueryParams] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/intents" and request.method == "GET":
            self.lists.append(request.url.params)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    @property
    def rows_asked(self) -> int:
        return sum(int(params.get("limit", 50)) for params in self.lists)


class CountingApp(OpenIntentApp):
    def __init__(self, info: ConnectionInfo, transport: Counting, **kwargs: Any) -> None:
        self.counting = transport
        super().__init__(info, **kwargs)

    def _make_client(self, info: ConnectionInfo) -> OpenIntentClient:
        return OpenIntentClient(
            info.url, info.api_key, agent_id=info.operator or "operator", transport=self.counting
        )


def counts_text(root: IntentsScreen) -> str:
    return str(root.query_one("#counts").render())


def titles(root: IntentsScreen) -> list[str]:
    return [row.cells[1] for row in root.table.visible_rows]


def contiguous(root: IntentsScreen) -> bool:
    """The rows held are the list's rows at their positions: no gap, no repeat."""
    assert root.window is not None
    first = root.window.first_position
    expected = [title_of(FLEET - 1 - p) for p in range(first, first + root.table.row_count)]
    return titles(root) == expected


def at_cursor(root: IntentsScreen) -> str:
    return root.table.visible_rows[root.table.cursor].cells[1]


async def opened(app: OpenIntentApp, pilot: Any) -> IntentsScreen:
    await wait_until(pilot, lambda: isinstance(app.screen, IntentsScreen) and app.screen.loaded)
    root = app.screen
    assert isinstance(root, IntentsScreen)
    await wait_until(pilot, lambda: root.fleet is not None and root.table.row_count > 0)
    return root


async def test_first_screen_is_one_page_and_the_counts(fleet, large):
    transport = Counting()
    app = CountingApp(connection(fleet), transport, stream=False)
    async with app.run_test(size=(120, 30)) as pilot:
        root = await opened(app, pilot)
        await pilot.pause(0.3)  # a console still walking the fleet would ask on
        assert root.windowed
        assert titles(root) == [title_of(n) for n in range(FLEET - 1, FLEET - 1 - PAGE, -1)]
        assert transport.rows_asked <= 2 * PAGE, transport.lists
        text = counts_text(root)
        assert "3,000 intents" in text and "draft 1,000" in text and "active 2,000" in text
        assert "rows 1-100 of 3,000" in text


async def test_a_fleet_within_memory_is_read_whole_behind_its_first_page(fleet, monkeypatch):
    monkeypatch.setattr(IntentsScreen, "PAGE_SIZE", 500)  # MEMORY_ROWS stays 5,000
    app = CountingApp(connection(fleet), Counting(), stream=False)
    async with app.run_test(size=(120, 30)) as pilot:
        root = await opened(app, pilot)
        await wait_until(pilot, lambda: root.table.row_count >= FLEET, what="the whole fleet")
        assert not root.windowed and titles(root)[0] == title_of(FLEET - 1)
        await pilot.press("G")  # in memory: the last row at once
        assert at_cursor(root) == title_of(0)
        await pilot.press("slash", *"needle", "enter")  # filtered here, any column
        assert root.table.row_count == len(NEEDLES)
        assert "(30 shown)" in counts_text(root)


async def test_scrolling_pages_on_demand_within_a_bounded_window(fleet, large):
    app = CountingApp(connection(fleet), Counting(), stream=False)
    async with app.run_test(size=(120, 30)) as pilot:
        root = await opened(app, pilot)
        window = root.window
        assert window is not None

        def position() -> int:
            return window.first_position + root.table.cursor

        held = 0
        while position() < 800:
            await pilot.press("pagedown")
            await wait_until(pilot, lambda: not root._paging)
            held = max(held, root.table.row_count)
            assert contiguous(root)
        assert held <= PAGE * WINDOW_PAGES
        await wait_until(pilot, lambda: at_cursor(root) == title_of(FLEET - 1 - position()))
        assert window.first_position > 0  # the first pages were let go
        while position() > 0:  # and are read again on the way back
            await pilot.press("pageup")
            await wait_until(pilot, lambda: not root._paging)
            assert contiguous(root)
        assert at_cursor(root) == title_of(FLEET - 1)
        assert titles(root)[:3] == [title_of(FLEET - 1), title_of(FLEET - 2), title_of(FLEET - 3)]
        # The mouse wheel scrolls the view without moving the cursor: it pages too.
        held = root.table.row_count
        root.table.scroll_y = root.table.max_scroll_y
        await wait_until(pilot, lambda: window.first_position + root.table.row_count > held)


async def test_G_reads_the_last_page_directly_and_g_the_first(fleet, large):
    transport = Counting()
    app = CountingApp(connection(fleet), transport, stream=False)
    async with app.run_test(size=(120, 30)) as pilot:
        root = await opened(app, pilot)
        before = len(transport.lists)
        await pilot.press("G")
        await wait_until(pilot, lambda: at_cursor(root) == title_of(0), what="the oldest intent")
        assert len(transport.lists) - before <= 2  # not a walk through 30 pages
        assert "rows 2,901-3,000 of 3,000" in counts_text(root)
        await pilot.press("k")
        assert at_cursor(root) == title_of(1)
        tail = root.window
        await pilot.press("r")  # a reload stays at the end, on the same row
        await wait_until(pilot, lambda: root.window is not tail and not root.table.more_below)
        assert at_cursor(root) == title_of(1) and "rows 2,901-3,000" in counts_text(root)
        window = root.window
        assert window is not None
        while window.first_position > 2500:  # up from the tail: pages the other way
            await pilot.press("pageup")
            await wait_until(pilot, lambda: not root._paging)
            assert contiguous(root)
        await pilot.press("g")
        await wait_until(pilot, lambda: at_cursor(root) == title_of(FLEET - 1), what="newest")
        assert "rows 1-100" in counts_text(root)


async def test_a_filter_on_a_large_fleet_runs_on_the_server(fleet, large):
    transport = Counting()
    app = CountingApp(connection(fleet), transport, stream=False)
    async with app.run_test(size=(120, 30)) as pilot:
        root = await opened(app, pilot)
        await pilot.press("slash", *"needle", "enter")
        # The matches are spread over the whole list: a window of 500 rows holds 5 of them.
        await wait_until(pilot, lambda: root.table.row_count == len(NEEDLES), what="30 matches")
        assert titles(root) == [title_of(n) for n in reversed(NEEDLES)]
        assert transport.rows_asked <= 5 * PAGE  # found without reading the fleet
        assert "of 30 matching" in counts_text(root)
        await pilot.press("slash", "escape")
        # The whole fleet again, the cursor still on the intent it was on.
        await wait_until(pilot, lambda: "of 3,000" in counts_text(root))
        assert "matching" not in counts_text(root) and at_cursor(root) == title_of(2900)
        app.run_verb("intents status=draft")
        await wait_until(pilot, lambda: "of 1,000 matching" in counts_text(root))
        assert {row.cells[0] for row in root.table.visible_rows} == {"draft"}
        assert titles(root)[0] == title_of(2997)  # the newest draft


async def test_sorting_a_large_fleet_by_activity_is_the_servers_or_refused(fleet, large):
    """With cursor paging the server sorts by update time and a changed intent moves to the
    top; a server that lists newest first only says so and keeps its order."""
    app = CountingApp(connection(fleet), Counting())
    async with app.run_test(size=(120, 30)) as pilot:
        root = await opened(app, pilot)
        window = root.window
        assert window is not None
        await pilot.press("A")
        if not window.keyset:
            await wait_until(pilot, lambda: any("newest first only" in m for _, m in app.toasts))
            assert titles(root)[0] == title_of(FLEET - 1)
            return
        await wait_until(pilot, lambda: root.window is not window and root.loaded)
        await wait_until(pilot, lambda: app.connection_state == "live")
        with fleet.client() as api:
            old = api.get("/api/v1/intents", params={"sort": "created_at", "limit": 1})
            oldest = old.json()["intents"][0]
            api.post(
                f"/api/v1/intents/{oldest['id']}/state",
                json={"patches": [{"op": "set", "path": "/touched", "value": True}]},
                headers={"If-Match": str(oldest["version"])},
            )
        await wait_until(pilot, lambda: titles(root)[0] == oldest["title"], what="moved to top")
        assert "sort -updated_at" in counts_text(root)


async def test_a_live_insert_enters_at_the_top_of_a_large_fleet(fleet, large):
    app = CountingApp(connection(fleet), Counting())
    async with app.run_test(size=(120, 30)) as pilot:
        root = await opened(app, pilot)
        await wait_until(pilot, lambda: app.connection_state == "live")
        total = root.fleet.total if root.fleet else 0
        with fleet.client() as api:
            create_intent(api, "Arrived while watching")
        await wait_until(pilot, lambda: titles(root)[0] == "Arrived while watching")
        await wait_until(pilot, lambda: f"{total + 1:,} intents" in counts_text(root))
        assert f"of {total + 1:,}" in counts_text(root)


async def test_live_inserts_show_at_the_top_and_are_counted(server: LiveServer):
    """Bug 15.3: "1 intents (0 shown)" with one row visible."""
    app = OpenIntentApp(connection(server))
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, IntentsScreen) and app.screen.loaded)
        root = app.screen
        assert isinstance(root, IntentsScreen)
        await wait_until(pilot, lambda: app.connection_state == "live")
        with server.client() as api:
            create_intent(api, "First")
            await wait_until(pilot, lambda: root.table.row_count == 1)
            await wait_until(pilot, lambda: "(0 shown)" not in counts_text(root), limit=3)
            assert counts_text(root).startswith(" 1 intents")
            create_intent(api, "Second")
            await wait_until(pilot, lambda: root.table.row_count == 2)
        assert titles(root) == ["Second", "First"]  # newest first, as the list opened
        await wait_until(pilot, lambda: counts_text(root).startswith(" 2 intents  active 2"))
        assert "shown" not in counts_text(root)


async def test_the_reference_dialect_declares_it_cannot_page_or_count_without_asking():
    transport = Counting()
    async with ReferenceClient("http://127.0.0.1:9", "key", transport=transport) as client:
        assert await client.keyset_intents() is False
        with pytest.raises(Unavailable):
            await client.intent_counts()
    assert transport.lists == []
