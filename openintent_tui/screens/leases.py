"""All active leases with a live countdown: grant, renew, release, revoke with a reason."""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from backend.wire.leases import Lease

from ..messages import ConnectionChanged, EventsReceived
from ..modals.lease_grant import LeaseGrant, LeaseGrantModal
from ..modals.text_prompt import revoke_prompt
from ..widgets.filter_line import FilterLine
from ..widgets.virtual_table import Column, Row, VirtualTable
from .base import UNAVAILABLE, ConsoleScreen
from .data import per_known_intent
from .format import STATUS_STYLES, ago, short_id, until

RENEW_SECONDS = 300
LEASE_EVENTS = frozenset({"lease_acquired", "lease_released"})


class LeasesScreen(ConsoleScreen):
    crumb = "Leases"

    BINDINGS = [
        Binding("slash", "filter", "Filter", id="leases.filter"),
        Binding("n", "grant", "Grant", id="leases.grant"),
        Binding("e", "renew", "Renew", id="leases.renew"),
        Binding("x", "release", "Release", id="leases.release"),
        Binding("X", "revoke", "Revoke", id="leases.revoke"),
        Binding("o", "open_intent", "Open intent", id="leases.open_intent"),
        Binding("r", "reload", "Reload", id="leases.reload"),
        Binding("y", "copy_id", "Copy id", show=False, id="leases.copy_id"),
    ]
    MUTATING_ACTIONS = frozenset({"grant", "renew", "release", "revoke"})

    def __init__(self) -> None:
        super().__init__()
        self.leases: dict[str, Lease] = {}
        self.titles: dict[str, str] = {}
        self.loaded = False

    def compose_body(self) -> ComposeResult:
        yield FilterLine(id="filter")
        yield Static(id="counts")
        yield VirtualTable(
            [
                Column("status", "STATUS", 9),
                Column("expires", "EXPIRES", 12, fmt=self._until),
                Column("scope", "SCOPE", 16),
                Column("holder", "HOLDER", 14),
                Column("intent", "INTENT", 20, flex=True),
                Column("acquired", "ACQUIRED", 12, fmt=self._ago, priority=2),
                Column("id", "LEASE", 36, priority=3),
            ],
            empty_text="Loading leases…",
            status_styles=STATUS_STYLES,
            id="leases-table",
        )

    @property
    def table(self) -> VirtualTable:
        return self.query_one("#leases-table", VirtualTable)

    def _until(self, value: Any) -> str:
        return until(value, self.now())

    def _ago(self, value: Any) -> str:
        return ago(value, self.now())

    def on_mount(self) -> None:
        self.table.focus()
        self.table.sort_by("expires")
        self.reload()
        # The countdown ticks by redrawing; the rows' data only changes on events.
        self.set_interval(1.0, self.table.refresh)
        self.reload_when_dirty(0.5)

    def reload(self) -> None:
        self.load()

    @work(exclusive=True, group="leases-load", exit_on_error=False)
    async def load(self) -> None:
        client = await self.connected()
        partial = not client.capabilities.list_all_leases
        if partial and not self.console.known_intents:
            self.table.empty_text = (
                f"Leases: {UNAVAILABLE} (it cannot list all leases: open an intent"
                " with :open ID and its leases show here)"
            )
            self.table.set_rows([])
            self.loaded = True
            return
        try:
            if partial:  # the leases of the intents opened this session
                per_intent = await per_known_intent(
                    self.console.known_intents, client.intent_leases
                )
                leases = [lease for found in per_intent for lease in found]
            else:
                leases = await client.list_leases(status="active")
        except Exception as exc:
            self.table.empty_text = f"Leases: {self.problem(exc)}"
            self.table.set_rows([])
            self.loaded = True
            return
        for intent_id in {lease.intent_id for lease in leases} - set(self.titles):
            try:
                self.titles[intent_id] = (await client.get_intent(intent_id)).title
            except Exception:
                self.titles[intent_id] = short_id(intent_id)
        self.leases = {lease.id: lease for lease in leases}
        self.table.empty_text = "No active leases."
        self.table.set_rows(self.row(lease) for lease in leases)
        self.loaded = True
        counts = f" {len(leases)} active leases on {len({x.intent_id for x in leases})} intents"
        if partial:
            known = len(self.console.known_intents)
            counts += f" (of the {known} opened this session: this server cannot list all leases)"
        self.query_one("#counts", Static).update(counts)

    def row(self, lease: Lease) -> Row:
        title = self.titles.get(lease.intent_id, short_id(lease.intent_id))
        return Row(
            lease.id,
            (lease.status, "", lease.scope, lease.agent_id, title, "", lease.id),
            (
                lease.status,
                lease.expires_at,
                lease.scope,
                lease.agent_id,
                title.lower(),
                lease.acquired_at,
                lease.id,
            ),
        )

    @on(EventsReceived)
    def on_events(self, message: EventsReceived) -> None:
        if any(e.event_type in LEASE_EVENTS for e in message.events):
            self.dirty = True

    @on(ConnectionChanged)
    def on_connection(self, message: ConnectionChanged) -> None:
        self.table.stale = message.state != "live"

    @on(VirtualTable.Selected, "#leases-table")
    def on_selected(self) -> None:
        self.action_open_intent()

    # ---- actions -------------------------------------------------------------------------

    def action_filter(self) -> None:
        self.query_one(FilterLine).open()

    @on(FilterLine.Applied)
    def on_filter(self, message: FilterLine.Applied) -> None:
        self.table.set_filter(message.text)
        if message.done:
            self.table.focus()

    def _current(self) -> Lease | None:
        key = self.table.cursor_key
        lease = self.leases.get(key) if key else None
        if lease is None:
            self.notify("No lease selected", severity="warning")
        return lease

    def action_copy_id(self) -> None:
        self.copy_id(self.table.cursor_key)

    def describe_target(self) -> tuple[str, object, str | None] | None:
        lease = self.leases.get(self.table.cursor_key or "")
        return ("lease", lease, lease.id) if lease is not None else None

    def action_open_intent(self) -> None:
        if (lease := self._current()) is not None:
            self.console.open_intent(lease.intent_id)

    def action_grant(self) -> None:
        lease = self.leases.get(self.table.cursor_key or "")
        intent_id = lease.intent_id if lease is not None else ""
        self.app.push_screen(LeaseGrantModal(intent_id), self._granted)

    def _granted(self, grant: LeaseGrant | None) -> None:
        if grant is not None:
            self.grant(grant)

    @work(group="leases-mutate", exit_on_error=False)
    async def grant(self, grant: LeaseGrant) -> None:
        if await self.request_grant(grant) is not None:
            self.load()

    def action_renew(self) -> None:
        if (lease := self._current()) is not None:
            self.renew(lease)

    @work(group="leases-mutate", exit_on_error=False)
    async def renew(self, lease: Lease) -> None:
        done = await self.mutate(
            f"Renew {lease.scope}",
            lambda: self.client.renew_lease(
                lease.intent_id, lease.id, RENEW_SECONDS, agent_id=lease.agent_id
            ),
            done=f"Renewed {lease.scope} ({lease.agent_id}) for {RENEW_SECONDS} s",
        )
        if done is not None:
            self.load()

    def action_release(self) -> None:
        if (lease := self._current()) is None:
            return
        self.confirm_then(
            f"Release lease {lease.scope} held by {lease.agent_id}?",
            "Release",
            lambda: self.release(lease),
        )

    @work(group="leases-mutate", exit_on_error=False)
    async def release(self, lease: Lease) -> None:
        done = await self.mutate(
            f"Release {lease.scope}",
            lambda: self.client.release_lease(lease.intent_id, lease.id, agent_id=lease.agent_id),
            done=f"Released {lease.scope} ({lease.agent_id})",
        )
        if done is not None:
            self.load()

    def action_revoke(self) -> None:
        if (lease := self._current()) is None:
            return

        def reason_given(reason: str | None) -> None:
            if reason:
                self.confirm_then(
                    f"Revoke {lease.scope} from {lease.agent_id}?\nReason: {reason}",
                    "Revoke",
                    lambda: self.revoke(lease, reason),
                )

        self.app.push_screen(revoke_prompt(f"{lease.scope} ({lease.agent_id})"), reason_given)

    @work(group="leases-mutate", exit_on_error=False)
    async def revoke(self, lease: Lease, reason: str) -> None:
        done = await self.mutate(
            f"Revoke {lease.scope}",
            lambda: self.client.revoke_lease(lease.intent_id, lease.id, reason),
            done=f"Revoked {lease.scope} from {lease.agent_id}",
            available=self.client.capabilities.revoke_leases,
        )
        if done is not None:
            self.load()
