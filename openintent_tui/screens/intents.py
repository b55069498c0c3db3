"""The root view: the fleet's intents in a virtual table, live from the global stream.

It opens on the first page and the counts by status, whatever the fleet's size. A fleet up to
`MEMORY_ROWS` intents is then read whole (the rest in the background) and filtered and sorted
in memory; a larger one is a window of pages (`intent_window`) fetched as the operator
scrolls or jumps (`g`/`G`), filtered and sorted by the server.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.timer import Timer
from textual.widgets import Static

from backend.domain.lifecycle import STATUSES
from backend.wire.intents import Intent, IntentCounts, IntentSort

from ..client.api import ServerAPI
from ..client.errors import ClientError
from ..messages import ConnectionChanged, EventsReceived
from ..widgets.filter_line import FilterLine
from ..widgets.virtual_table import Column, Row, VirtualTable
from .base import UNAVAILABLE
from .data import per_known_intent
from .first_run import first_run_text, sdk_snippet
from .format import STATUS_STYLES, ago
from .intent_window import NEWEST_FIRST, IntentWindow, Query
from .lifecycle import IntentActionsScreen
from .send_to_peer import SendsToPeers

# Events that change what a row shows beyond its last activity: re-read those intents.
REFETCH = frozenset(
    {
        "intent_created",
        "state_patched",
        "status_changed",
        "agent_assigned",
        "agent_unassigned",
        "intent.suspended",
        "intent.resumed",
    }
)
# Events after which the counts by status are re-read (a large fleet's counts are the server's).
COUNT_EVENTS = frozenset({"intent_created", "status_changed", "intent.suspended", "intent.resumed"})
LEASE_EVENTS = frozenset({"lease_acquired", "lease_released"})
# Above this many changed intents in one tick, one full reload is cheaper than N GETs.
REFETCH_LIMIT = 50
# `A` on a large fleet: activity is the server's update time, newest, oldest, then creation order.
ACTIVITY_SORTS: dict[IntentSort, IntentSort] = {
    "-updated_at": "updated_at",
    "updated_at": NEWEST_FIRST,
}
# Typing in the `/` filter of a large fleet asks the server once typing pauses this long.
SEARCH_DELAY = 0.3


class IntentsScreen(IntentActionsScreen, SendsToPeers):
    crumb = "Intents"

    PAGE_SIZE = 200
    WINDOW_PAGES = 10
    """A large fleet keeps at most this many pages in memory."""
    MEMORY_ROWS = 5000
    """A fleet up to this size is held whole, filtered and sorted in memory."""

    BINDINGS = [
        Binding("slash", "filter", "Filter", id="intents.filter"),
        Binding("S", "sort('status')", "Sort status", id="intents.sort_status"),
        Binding("T", "sort('title')", "Sort title", show=False, id="intents.sort_title"),
        Binding("V", "sort('version')", "Sort version", show=False, id="intents.sort_version"),
        Binding("A", "sort('activity')", "Sort activity", id="intents.sort_activity"),
        Binding("c", "change_status", "Status", id="intents.status"),
        Binding("D", "dispatch", "To peer", id="intents.dispatch"),
        Binding("r", "reload", "Reload", id="intents.reload"),
        Binding("y", "copy_id", "Copy id", show=False, id="intents.copy_id"),
        Binding("x", "graph", "Graph", show=False, id="intents.graph"),
    ]
    MUTATING_ACTIONS = frozenset({"change_status", "dispatch"})

    def __init__(self, status: str | None = None) -> None:
        super().__init__()
        self.status_filter = status
        self.text_filter = ""
        self.server_sort: IntentSort = NEWEST_FIRST
        self.intents: dict[str, Intent] = {}
        """The intents held: the whole fleet, or the window's."""
        self.window: IntentWindow | None = None
        self.windowed = False
        """The fleet is larger than MEMORY_ROWS: the server filters, sorts and pages."""
        self.fleet: IntentCounts | None = None
        """The server's counts by status (a large fleet's; a small one is counted here)."""
        self.lease_counts: Counter[str] = Counter()
        self.last_activity: dict[str, str] = {}
        self._dirty: set[str] = set()
        self._created: set[str] = set()
        self._leases_dirty = False
        self._counts_dirty = False
        self._paging = False
        self._search_timer: Timer | None = None
        self.loaded = False
        self.unavailable: str | None = None

    def compose_body(self) -> ComposeResult:
        yield FilterLine(id="filter")
        yield Static(id="counts")
        yield VirtualTable(
            [
                Column("status", "STATUS", 10),
                Column("title", "TITLE", 24, flex=True),
                Column("version", "VER", 5, priority=3),
                Column("agents", "AGENTS", 14, priority=2),
                Column("leases", "LEASES", 6, priority=3),
                Column("activity", "LAST ACTIVITY", 14, fmt=self._ago, priority=2),
                Column("id", "ID", 36, priority=4),
            ],
            empty_text="Loading intents…",
            status_styles=STATUS_STYLES,
            id="intents-table",
        )

    @property
    def table(self) -> VirtualTable:
        return self.query_one("#intents-table", VirtualTable)

    @property
    def ready_for_keys(self) -> bool:
        return self.loaded or self.unavailable is not None  # a failed load is an answer too

    def _ago(self, value: Any) -> str:
        return ago(value, self.now()) if value else "-"

    def on_mount(self) -> None:
        self.table.focus()
        self.apply_status(self.status_filter)
        self.reload()
        self.set_interval(0.5, self._apply_dirty)

    # ---- loading --------------------------------------------------------------------------

    def reload(self) -> None:
        self.load_all()

    def server_query(self) -> Query:
        """What the server is asked for: a small fleet is read whole and filtered here."""
        if not self.windowed:
            return Query()
        return Query(self.status_filter, self.text_filter or None, self.server_sort)

    @work(exclusive=True, group="intents-load", exit_on_error=False)
    async def load_all(self) -> None:
        client = await self.connected()
        if not client.capabilities.list_intents:
            await self._load_known(client)
            return
        if self.window is not None and self.window.client is not client:
            self.window, self.fleet, self.windowed = None, None, False  # another context
        try:
            keyset = await client.keyset_intents()
            window = self._new_window(client, keyset)
            previous = self.window
            if previous is not None and previous.at_tail and previous.query == window.query:
                await window.open_tail()  # a reload (`r`, a burst of changes) stays at the end
            else:
                await window.open_head()
            windowed = self.windowed  # a filtered list's size says nothing of the fleet's
            if window.query.is_plain:
                windowed = window.total > self.MEMORY_ROWS
            elif self.fleet is not None:
                windowed = self.fleet.total > self.MEMORY_ROWS
            if windowed != self.windowed:
                self.windowed = windowed
                self._apply_local_filters()
                if window.query != self.server_query():
                    window = self._new_window(client, keyset)
                    await window.open_head()
            self.unavailable = None
        except Exception as exc:
            self.unavailable = exc.message if isinstance(exc, ClientError) else str(exc)
            self.table.empty_text = f"Cannot list intents: {self.unavailable}"
            self.table.refresh()
            self.notify_error(exc, "Listing intents")
            return
        self.window = window
        self._show_window()  # the first page paints now, whatever the fleet's size
        self.loaded = True
        self.fleet = await self._read_counts(client)
        self.lease_counts = await self._lease_counts(client)
        if not self.windowed and not window.complete:
            window.max_pages = None  # small enough to hold: read the rest behind the first page
            while await window.extend():
                pass
        self._show_window()

    def _new_window(self, client: ServerAPI, keyset: bool) -> IntentWindow:
        return IntentWindow(
            client,
            self.server_query(),
            keyset=keyset,
            page_size=self.PAGE_SIZE,
            max_pages=self.WINDOW_PAGES,
        )

    async def _read_counts(self, client: ServerAPI) -> IntentCounts | None:
        try:
            return await client.intent_counts()
        except ClientError:
            return None  # the list still shows; its `total` stands in for the fleet's size

    async def _load_known(self, client: ServerAPI) -> None:
        """A server that cannot list (the reference): the intents opened this session."""
        if self.unavailable is None:
            self.notify(f"Listing intents: {UNAVAILABLE}", severity="warning")
        self.unavailable = "This server cannot list intents"
        self.window = None
        intents = await per_known_intent(self.console.known_intents, client.get_intent)
        self.table.empty_text = (
            "No intents match."
            if intents
            else "This server cannot list intents: open one with :open ID and it shows here"
        )
        self.intents = {intent.id: intent for intent in intents}
        self.table.set_rows(self.row(intent) for intent in intents)
        self.loaded = True
        self._update_counts()

    def _show_window(self) -> None:
        window = self.window
        if window is None:
            return
        self.intents = {intent.id: intent for intent in window.intents()}
        if self.windowed and len(self.last_activity) > 2 * len(self.intents) + 1000:
            # Bounded with the window: rows let go re-read their activity from the server.
            self.last_activity = {
                i: at for i, at in self.last_activity.items() if i in self.intents
            }
        filtered = self.windowed and not window.query.is_plain
        self.table.empty_text = (
            "No intents match." if self.intents or filtered else self._first_run()
        )
        # A small fleet's rest is on its way (`load_all`): no paging to race it.
        self.table.more_above = self.windowed and window.more_above
        self.table.more_below = self.windowed and window.more_below
        self.table.set_rows(self.row(intent) for intent in self.intents.values())
        self._update_counts()

    def row(self, intent: Intent) -> Row:
        # Called 100k times on a full load: plain attribute reads, no helpers.
        intent_id = intent.id
        agents = intent.agents
        leases = self.lease_counts.get(intent_id, 0)
        activity = self.last_activity.get(intent_id) or intent.last_activity_at or intent.updated_at
        return Row(
            intent_id,
            (
                intent.status,
                intent.title,
                str(intent.version),
                ", ".join(agents) if agents else "-",
                str(leases) if leases else "-",
                "",
                intent_id,
            ),
            (
                intent.status,
                intent.title.lower(),
                intent.version,
                len(agents),
                leases,
                activity,
                intent_id,
            ),
        )

    # ---- paging a large fleet -------------------------------------------------------------

    @on(VirtualTable.NeedsRows, "#intents-table")
    def _near_edge(self, message: VirtualTable.NeedsRows) -> None:
        # Re-checked now: a jump may have moved the cursor since the message was sent.
        if self.window is not None and not self._paging and self.table.near_edge(message.top):
            self._paging = True
            self.page(top=message.top)

    @work(exclusive=True, group="intents-page", exit_on_error=False)
    async def page(self, top: bool) -> None:
        """One more page above or below the rows held."""
        window = self.window
        try:
            if window is not None:
                await (window.extend() if top == window.at_tail else window.retreat())
                if window is self.window:
                    self._show_window()
        except Exception as exc:
            self.notify_error(exc, "Reading more intents")
        finally:
            self._paging = False

    @on(VirtualTable.EdgeWanted, "#intents-table")
    def _jump(self, message: VirtualTable.EdgeWanted) -> None:
        self._paging = True  # no prefetch while the window moves
        self.jump_to_edge(message.top)

    # One group with `page`: a jump cancels a page read in flight (before it changes anything).
    @work(exclusive=True, group="intents-page", exit_on_error=False)
    async def jump_to_edge(self, top: bool) -> None:
        """`g`/`G` on a window: the list's first or last page, fetched directly."""
        window = self.window
        try:
            if window is not None:
                await (window.open_head() if top else window.open_tail())
                if window is self.window:
                    self._show_window()
                    self.table.cursor = 0 if top else self.table.row_count - 1
        except Exception as exc:
            self.notify_error(exc, "Reading intents")
        finally:
            self._paging = False

    # ---- live updates ---------------------------------------------------------------------

    @on(EventsReceived)
    def on_events(self, message: EventsReceived) -> None:
        touched: list[str] = []
        moves = self.window is not None and self.window.query.changes_move_to_top is not None
        for event in message.events:
            intent_id = event.intent_id
            if intent_id is None:
                continue
            if not self.windowed or intent_id in self.intents:
                self.last_activity[intent_id] = event.created_at  # others: the server's, on read
            kind = event.event_type
            if kind in COUNT_EVENTS:
                self._counts_dirty = True
            if kind == "intent_created":
                self._created.add(intent_id)
                self._dirty.add(intent_id)
            elif intent_id in self.intents:
                if kind in REFETCH:
                    self._dirty.add(intent_id)
                elif kind in LEASE_EVENTS:
                    self._leases_dirty = True
                else:
                    touched.append(intent_id)
            elif not self.windowed or (moves and kind in REFETCH):
                self._dirty.add(intent_id)  # a large fleet: only what can come into view
        if touched:
            self.table.upsert(
                (self.row(self.intents[i]) for i in dict.fromkeys(touched) if i in self.intents),
                defer=True,
            )

    def _apply_dirty(self) -> None:
        if not self.loaded:
            return
        if self._leases_dirty:
            self._leases_dirty = False
            self.refresh_leases()
        if self._counts_dirty and self.windowed:
            self._counts_dirty = False
            self.refresh_counts()
        if self._dirty:
            dirty, self._dirty = self._dirty, set()
            if len(dirty) > REFETCH_LIMIT:
                self._created.clear()
                self.load_all()
            else:
                self.refetch(sorted(dirty))

    @work(group="intents-refetch", exit_on_error=False)
    async def refetch(self, ids: list[str]) -> None:
        fresh = []
        for intent_id in ids:
            try:
                fresh.append(await self.client.get_intent(intent_id))
            except Exception:
                continue  # deleted or unreachable: the next reload settles it
        self._merge(fresh)

    def _merge(self, fresh: list[Intent]) -> None:
        window = self.window
        if window is None:  # a server that cannot list: the rows are the intents opened
            for intent in fresh:
                self.intents[intent.id] = intent
            self.table.upsert((self.row(intent) for intent in fresh), defer=True)
            self._update_counts()
            return
        for intent in fresh:
            created = intent.id in self._created
            self._created.discard(intent.id)
            window.merge(intent, created=created)
        self._show_window()

    @work(exclusive=True, group="intents-counts", exit_on_error=False)
    async def refresh_counts(self) -> None:
        self.fleet = await self._read_counts(self.client)
        self._update_counts()

    @staticmethod
    async def _lease_counts(client: ServerAPI) -> Counter[str]:
        """Active leases per intent; extra information here, so empty when unknown."""
        if not client.capabilities.list_all_leases:
            return Counter()
        try:
            leases = await client.list_leases(status="active")
        except ClientError:
            return Counter()
        return Counter(lease.intent_id for lease in leases)

    @work(exclusive=True, group="intents-leases", exit_on_error=False)
    async def refresh_leases(self) -> None:
        if not self.client.capabilities.list_all_leases:
            return
        before = set(self.lease_counts)
        self.lease_counts = await self._lease_counts(self.client)
        changed = before | set(self.lease_counts)  # only rows whose count can differ
        self.table.upsert(
            (self.row(self.intents[i]) for i in changed if i in self.intents), defer=True
        )

    @on(ConnectionChanged)
    def on_connection(self, message: ConnectionChanged) -> None:
        self.table.stale = message.state != "live"
        self.table.refresh()

    @on(VirtualTable.Changed, "#intents-table")
    def _rows_changed(self) -> None:
        self._update_counts()  # after every rebuild, deferred ones included (bug 15.3)

    def _update_counts(self) -> None:
        text = Text(no_wrap=True)
        window = self.window
        if self.windowed and window is not None:
            counts = Counter(self.fleet.by_status if self.fleet else {})
            total = self.fleet.total if self.fleet else window.total
            text.append(f" {total:,} intents", style="bold")
        else:
            counts = Counter(intent.status for intent in self.intents.values())
            text.append(f" {len(self.intents)} intents", style="bold")
            if self.table.row_count != len(self.intents):
                text.append(f" ({self.table.row_count} shown)", style="dim")
        for status in STATUSES:
            if counts.get(status):
                text.append("  ")
                text.append(f"{status} {counts[status]:,}", style=STATUS_STYLES.get(status, ""))
        if self.windowed and window is not None and len(window):
            first = window.first_position + 1
            text.append(f"   rows {first:,}-{first + len(window) - 1:,} of {window.total:,}")
            if not window.query.is_plain:
                text.append(" matching", style="dim")
            if window.query.sort != NEWEST_FIRST:
                text.append(f"   sort {window.query.sort}", style="yellow")
        if self.unavailable and self.intents:
            text.append("   opened this session (this server cannot list intents)", style="dim")
        if self.status_filter:
            text.append(f"   filter status={self.status_filter}", style="yellow")
        if self.text_filter:
            text.append(f"   /{self.text_filter}", style="yellow")
        self.query_one("#counts", Static).update(text)

    # ---- filters and sorting --------------------------------------------------------------

    def _apply_local_filters(self) -> None:
        """A small fleet filters in the table; a large one on the server (none here)."""
        status, text = self.status_filter, self.text_filter
        if self.windowed:
            status, text = None, ""
            self.table.sort_column = None  # the server's order
        self.table.set_row_filter(
            (lambda row: row.values is not None and row.values[0] == status) if status else None
        )
        self.table.set_filter(text)

    def apply_status(self, status: str | None) -> None:
        self.status_filter = status
        self._apply_local_filters()
        if self.windowed:
            self.reload()
        self._update_counts()

    def apply_text(self, text: str, *, now: bool = True) -> None:
        """The `/` filter: text in any column of a small fleet, the server's `q` (title and
        description) on a large one, asked once typing pauses."""
        self.text_filter = text
        self._apply_local_filters()
        if self.windowed:
            if self._search_timer is not None:
                self._search_timer.stop()
                self._search_timer = None
            if now:
                self.reload()
            else:
                self._search_timer = self.set_timer(SEARCH_DELAY, self.reload)
        self._update_counts()

    def action_filter(self) -> None:
        self.query_one(FilterLine).open()

    @on(FilterLine.Applied)
    def on_filter(self, message: FilterLine.Applied) -> None:
        if message.text != self.text_filter or message.done:
            self.apply_text(message.text, now=message.done)
        if message.done:
            self.table.focus()

    def action_sort(self, column: str) -> None:
        if not self.windowed:
            self.table.sort_by(column)
            return
        keyset = self.window is not None and self.window.keyset
        if column != "activity" or not keyset:
            why = "this server lists newest first only" if not keyset else "sort by activity (A)"
            self.notify(
                f"{self.fleet.total if self.fleet else 'So many'} intents are more than the "
                f"console holds ({self.MEMORY_ROWS:,}): the server sorts them; {why}",
                severity="warning",
            )
            return
        # Activity on the server is update time: newest, oldest, then back to creation order.
        self.server_sort = ACTIVITY_SORTS.get(self.server_sort, "-updated_at")
        self.reload()

    def action_graph(self) -> None:
        self.console.run_verb("graph")

    def _first_run(self) -> str:
        return first_run_text(self.console.status_view()["server"])

    def action_copy_id(self) -> None:
        if self.loaded and not self.intents and not self.unavailable:  # the first-run snippet
            self.app.copy_to_clipboard(sdk_snippet(self.console.status_view()["server"]))
            self.notify("Copied the SDK snippet")
            return
        self.copy_id(self.table.cursor_key)

    def describe_target(self) -> tuple[str, object, str | None] | None:
        intent = self.intents.get(self.table.cursor_key or "")
        return ("intent", intent, intent.id) if intent is not None else None

    def action_dispatch(self) -> None:
        self.send_to_peer(self.intents.get(self.table.cursor_key or ""))

    def action_change_status(self) -> None:
        intent = self.intents.get(self.table.cursor_key or "")
        if intent is None:
            self.notify("No intent selected", severity="warning")
            return
        self.change_status(intent)

    def intent_changed(self, intent_id: str, fresh: Intent | None = None) -> None:
        if fresh is None:
            self.refetch([intent_id])
            return
        self._merge([fresh])

    @on(VirtualTable.Selected, "#intents-table")
    def open_intent(self, message: VirtualTable.Selected) -> None:
        self.console.open_intent(message.key)
