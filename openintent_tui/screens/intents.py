"""The root view: every intent in a virtual table, live from the global stream."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from backend.domain.lifecycle import STATUSES
from backend.wire.intents import Intent

from ..client.api import ServerAPI
from ..client.errors import ClientError
from ..messages import ConnectionChanged, EventsReceived
from ..widgets.filter_line import FilterLine
from ..widgets.virtual_table import Column, Row, VirtualTable
from .base import UNAVAILABLE
from .data import per_known_intent
from .format import STATUS_STYLES, ago
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
LEASE_EVENTS = frozenset({"lease_acquired", "lease_released"})
# Above this many changed intents in one tick, one full reload is cheaper than N GETs.
REFETCH_LIMIT = 50


class IntentsScreen(IntentActionsScreen, SendsToPeers):
    crumb = "Intents"

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
    ]
    MUTATING_ACTIONS = frozenset({"change_status", "dispatch"})

    def __init__(self, status: str | None = None) -> None:
        super().__init__()
        self.status_filter = status
        self.intents: dict[str, Intent] = {}
        self.lease_counts: Counter[str] = Counter()
        self.last_activity: dict[str, str] = {}
        self._dirty: set[str] = set()
        self._leases_dirty = False
        self.loaded = False
        self.unavailable: str | None = None

    def compose_body(self) -> ComposeResult:
        yield FilterLine(id="filter")
        yield Static(id="counts")
        yield VirtualTable(
            [
                Column("status", "STATUS", 10),
                Column("title", "TITLE", 34),
                Column("version", "VER", 5),
                Column("agents", "AGENTS", 18),
                Column("leases", "LEASES", 6),
                Column("activity", "LAST ACTIVITY", 14, fmt=self._ago),
                Column("id", "ID", 36),
            ],
            empty_text="Loading intents…",
            status_styles=STATUS_STYLES,
            id="intents-table",
        )

    @property
    def table(self) -> VirtualTable:
        return self.query_one("#intents-table", VirtualTable)

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

    @work(exclusive=True, group="intents-load", exit_on_error=False)
    async def load_all(self) -> None:
        client = await self.connected()
        if not client.capabilities.list_intents:
            # A server that cannot list (the reference): show the intents opened this session.
            if self.unavailable is None:
                self.notify(f"Listing intents: {UNAVAILABLE}", severity="warning")
            self.unavailable = "This server cannot list intents"
            intents = await per_known_intent(self.console.known_intents, client.get_intent)
            if not intents:
                self.table.empty_text = (
                    "This server cannot list intents: open one with :open ID and it shows here"
                )
        else:
            try:
                intents = await client.list_all_intents()
                self.unavailable = None
            except Exception as exc:
                self.unavailable = exc.message if isinstance(exc, ClientError) else str(exc)
                self.table.empty_text = f"Cannot list intents: {self.unavailable}"
                self.table.refresh()
                self.notify_error(exc, "Listing intents")
                return
        self.lease_counts = await self._lease_counts(client)
        self.intents = {intent.id: intent for intent in intents}
        if intents or not self.unavailable:
            self.table.empty_text = "No intents match." if intents else "No intents yet."
        self.table.set_rows(self.row(intent) for intent in intents)
        self.loaded = True
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

    # ---- live updates ---------------------------------------------------------------------

    @on(EventsReceived)
    def on_events(self, message: EventsReceived) -> None:
        touched: list[str] = []
        for event in message.events:
            intent_id = event.intent_id
            if intent_id is None:
                continue
            self.last_activity[intent_id] = event.created_at
            if event.event_type in REFETCH or intent_id not in self.intents:
                self._dirty.add(intent_id)
            elif event.event_type in LEASE_EVENTS:
                self._leases_dirty = True
            else:
                touched.append(intent_id)
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
        if self._dirty:
            dirty, self._dirty = self._dirty, set()
            if len(dirty) > REFETCH_LIMIT:
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
        for intent in fresh:
            self.intents[intent.id] = intent
        self.table.upsert((self.row(intent) for intent in fresh), defer=True)
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

    def _update_counts(self) -> None:
        counts = Counter(intent.status for intent in self.intents.values())
        text = Text(no_wrap=True)
        text.append(f" {len(self.intents)} intents", style="bold")
        if self.table.row_count != len(self.intents):
            text.append(f" ({self.table.row_count} shown)", style="dim")
        for status in STATUSES:
            if counts.get(status):
                text.append("  ")
                text.append(f"{status} {counts[status]}", style=STATUS_STYLES.get(status, ""))
        if self.unavailable and self.intents:
            text.append("   opened this session (this server cannot list intents)", style="dim")
        if self.status_filter:
            text.append(f"   filter status={self.status_filter}", style="yellow")
        if self.table.filter_text:
            text.append(f"   /{self.table.filter_text}", style="yellow")
        self.query_one("#counts", Static).update(text)

    def apply_status(self, status: str | None) -> None:
        self.status_filter = status
        self.table.set_row_filter(
            (lambda row: row.values is not None and row.values[0] == status) if status else None
        )
        self._update_counts()

    def action_filter(self) -> None:
        self.query_one(FilterLine).open()

    @on(FilterLine.Applied)
    def on_filter(self, message: FilterLine.Applied) -> None:
        self.table.set_filter(message.text)
        self._update_counts()
        if message.done:
            self.table.focus()

    def action_sort(self, column: str) -> None:
        self.table.sort_by(column)

    def action_copy_id(self) -> None:
        self.copy_id(self.table.cursor_key)

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
        self.intents[intent_id] = fresh
        self.table.upsert([self.row(fresh)])
        self._update_counts()

    @on(VirtualTable.Selected, "#intents-table")
    def open_intent(self, message: VirtualTable.Selected) -> None:
        self.console.open_intent(message.key)
