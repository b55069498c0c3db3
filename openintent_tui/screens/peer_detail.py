"""One peer: what this server knows of it, what it publishes (its manifest and DID document,
read from the peer itself), its public agents, and the dispatches exchanged with it, newest
first (live from the `federation.*` events, as on `:dispatches`)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static

from backend.wire.federation import DispatchView, PeerView

from ..client.federation import PeerDocuments
from ..messages import EventsReceived
from ..widgets.json_tree import JsonTree
from ..widgets.virtual_table import Row, VirtualTable
from .base import ConsoleScreen
from .dispatches import (
    DISPATCH_STYLES,
    PAGE,
    dispatch_columns,
    dispatch_row,
    load_titles,
    local_intent,
    peer_of,
)
from .format import ago
from .peers import is_federation_event, peer_key, reach, same_server


class PeerScreen(ConsoleScreen):
    BINDINGS = [
        Binding("r", "reload", "Reload", id="peer.reload"),
        Binding("m", "focus_manifest", "Manifest", id="peer.manifest"),
        Binding("d", "focus_dispatches", "Dispatches", id="peer.dispatches"),
    ]

    def __init__(self, peer: PeerView) -> None:
        super().__init__()
        self.peer = peer
        self.crumb = f"Peer {peer_key(peer)}"
        self.dispatches: dict[str, DispatchView] = {}
        self.documents: PeerDocuments | None = None
        self.titles: dict[str, str] = {}
        self.loaded = False

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="peer-top"):
            with VerticalScroll(id="peer-left"):
                yield Static(self._summary(self.peer), id="peer-summary", classes="panel")
            yield JsonTree("manifest", id="peer-manifest")
            yield JsonTree("DID document", id="peer-did")
        yield Static("Dispatches exchanged with this peer, newest first", classes="section-title")
        yield VirtualTable(
            dispatch_columns(self._ago),
            empty_text="Loading dispatches…",
            status_styles=DISPATCH_STYLES,
            id="peer-dispatches",
        )

    @property
    def table(self) -> VirtualTable:
        return self.query_one("#peer-dispatches", VirtualTable)

    def _ago(self, value: Any) -> str:
        return ago(value, self.now())

    def on_mount(self) -> None:
        self.table.focus()
        self.reload()
        self.load_documents()
        self.reload_when_dirty(0.5)

    def reload(self) -> None:
        self.load()

    def _summary(self, peer: PeerView) -> Table:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        state = reach(peer)
        rtt = f" ({peer.rtt_ms:g} ms)" if peer.reachable and peer.rtt_ms is not None else ""
        table.add_row("url", peer.url or "-")
        table.add_row("did", peer.did or "-")
        table.add_row("relationship", peer.relationship or "-")
        key = Text(peer.key_fingerprint or "unknown")
        if peer.key_source:
            key.append(f"  ({peer.key_source})", style="dim")
        if peer.key_mismatch:
            key.append("\n≠ the key it publishes now differs from the pinned one", "bold red")
        table.add_row("key", key)
        table.add_row("trusted", "yes" if peer.trusted else "no (the policy refuses it)")
        reach_text = {"up": "reachable", "down": "unreachable", "?": "not tried yet"}[state]
        table.add_row("reach", Text(reach_text + rtt, style="green" if state == "up" else "red"))
        table.add_row("last contact", self._ago(peer.last_contact_at))
        if peer.last_error:
            table.add_row("last error", Text(peer.last_error, style="red"))
        table.add_row("dispatches", f"{peer.dispatches_out} out, {peer.dispatches_in} in")
        agents = ", ".join(peer.public_agents) if peer.public_agents else "none known"
        table.add_row("public agents", agents)
        return table

    @work(exclusive=True, group="peer-documents", exit_on_error=False)
    async def load_documents(self) -> None:
        client = await self.connected()
        manifest_tree = self.query_one("#peer-manifest", JsonTree)
        did_tree = self.query_one("#peer-did", JsonTree)
        if self.peer.url is None:
            manifest_tree.show({"unavailable": "this peer is known by its DID only"})
            return
        documents = self.documents = await client.peer_documents(self.peer.url)
        problem = {"unavailable": documents.problem or "not published"}
        manifest_tree.show(documents.manifest if documents.manifest is not None else problem)
        did_tree.show(documents.did_document if documents.did_document is not None else problem)

    @work(exclusive=True, group="peer-load", exit_on_error=False)
    async def load(self) -> None:
        client = await self.connected()
        try:
            peers = await client.federation_peers()
            found = [
                view
                for direction in ("out", "in")
                for view in (
                    await client.list_dispatches(direction=direction, limit=PAGE)
                ).dispatches
            ]
        except Exception as exc:
            self.table.empty_text = f"Dispatches: {self.problem(exc)}"
            self.table.set_rows([])
            self.loaded = True
            return
        for peer in peers:
            if peer_key(peer) == peer_key(self.peer):
                self.peer = peer
                self.query_one("#peer-summary", Static).update(self._summary(peer))
        mine = [view for view in found if self._exchanged(view)]
        mine.sort(key=lambda view: view.created_at, reverse=True)
        await load_titles(client, mine, self.titles)
        self.dispatches = {view.dispatch_id: view for view in mine}
        self.table.empty_text = "Nothing exchanged with this peer yet."
        self.table.set_rows(self._row(view) for view in mine)
        self.table.sort_by("age", reverse=True)
        self.loaded = True

    def _exchanged(self, view: DispatchView) -> bool:
        """Sent to this peer, or received from it (by URL, or by its verified DID)."""
        did = self.peer.did
        if same_server(peer_of(view), self.peer.url):
            return True
        return did is not None and did in (peer_of(view), view.source_did)

    def _row(self, view: DispatchView) -> Row:
        return dispatch_row(view, self.titles)

    @on(EventsReceived)
    def on_events(self, message: EventsReceived) -> None:
        if any(is_federation_event(e) for e in message.events):
            self.dirty = True

    @on(VirtualTable.Selected, "#peer-dispatches")
    def on_selected(self) -> None:
        view = self.dispatches.get(self.table.cursor_key or "")
        intent_id = local_intent(view) if view is not None else None
        if intent_id is not None:
            self.console.open_intent(intent_id)

    def action_focus_manifest(self) -> None:
        self.query_one("#peer-manifest", JsonTree).focus()

    def action_focus_dispatches(self) -> None:
        self.table.focus()
