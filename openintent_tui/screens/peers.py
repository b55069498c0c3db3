"""`:peers`: this server's federation identity and one row per configured peer (key, trust,
reachability, dispatches each way); enter opens a peer.

How the screen learns of changes: dispatch counts move with the `federation.*` events of the
global stream (the screen re-reads the peers endpoint, coalesced, when one arrives). No event
exists for reachability: the server refreshes its peers in the background, so while the
screen is shown it re-reads that endpoint every `REFRESH_SECONDS` (one cheap GET)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from backend.federation.peers import fingerprint
from backend.wire.events import Event
from backend.wire.federation import PeerView

from ..client.api import ServerAPI
from ..messages import ConnectionChanged, EventsReceived
from ..widgets.filter_line import FilterLine
from ..widgets.virtual_table import Column, Row, VirtualTable
from .base import ConsoleScreen
from .format import ago

REFRESH_SECONDS = 3.0
NOT_FEDERATED = (
    "Federation is not enabled on this server (or it does not federate): "
    "no peers or dispatches to show."
)
REACH_STYLES = {"up": "bold green", "down": "bold red", "?": "yellow"}


def is_federation_event(event: Event) -> bool:
    return event.event_type.startswith("federation.")


def short_key(value: str | None) -> str:
    """`sha256:0a1b…` -> `0a1b2c3d4e5f` (12 hex digits: enough to tell keys apart)."""
    if not value:
        return "-"
    return value.removeprefix("sha256:")[:12]


def reach(peer: PeerView) -> str:
    if peer.reachable is None:
        return "?"
    return "up" if peer.reachable else "down"


def key_cell(peer: PeerView) -> str:
    """The short fingerprint; `≠!` when the key it publishes now is not the pinned one."""
    text = short_key(peer.key_fingerprint)
    return f"{text} ≠!" if peer.key_mismatch else text


def peer_key(peer: PeerView) -> str:
    return peer.url or peer.did or "?"


def same_server(a: str | None, b: str | None) -> bool:
    """Two server URLs name the same server (case and a trailing slash aside)."""
    if not a or not b:
        return False
    return a.rstrip("/").lower() == b.rstrip("/").lower()


async def own_identity(client: ServerAPI) -> Table:
    """The header: this server's DID, key fingerprint and trust policy (from its manifest)."""
    manifest = await client.federation_manifest()
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_column(style="bold")
    table.add_column()
    table.add_row(
        "this server",
        str(manifest.get("server_did") or "-"),
        "trust policy",
        Text(str(manifest.get("trust_policy") or "-"), style="bold cyan"),
    )
    table.add_row(
        "key",
        short_key(fingerprint(manifest.get("public_key"))),
        "url",
        str(manifest.get("server_url") or "-"),
    )
    return table


class PeersScreen(ConsoleScreen):
    crumb = "Peers"

    BINDINGS = [
        Binding("slash", "filter", "Filter", id="peers.filter"),
        Binding("U", "sort('reach')", "Sort reach", id="peers.sort_reach"),
        Binding("O", "sort('out')", "Sort out", show=False, id="peers.sort_out"),
        Binding("r", "reload", "Reload", id="peers.reload"),
        Binding("y", "copy_id", "Copy URL", show=False, id="peers.copy_url"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.peers: dict[str, PeerView] = {}
        self.identity: Table | None = None
        """This server's identity, read once (it changes only with a restart)."""
        self.loaded = False
        self.unavailable: str | None = None

    def compose_body(self) -> ComposeResult:
        yield Static("Loading…", id="identity", classes="panel")
        yield FilterLine(id="filter")
        yield VirtualTable(
            [
                Column("reach", "REACH", 5),
                Column("rtt", "RTT", 7),
                Column("url", "URL", 24),
                Column("did", "DID", 26),
                Column("key", "KEY", 15),
                Column("trusted", "TRUSTED", 7),
                Column("contact", "LAST CONTACT", 12, fmt=self._ago),
                Column("out", "OUT", 4),
                Column("in", "IN", 4),
                Column("agents", "AGENTS", 6),
            ],
            empty_text="Loading peers…",
            status_styles=REACH_STYLES,
            id="peers-table",
        )

    @property
    def table(self) -> VirtualTable:
        return self.query_one("#peers-table", VirtualTable)

    def _ago(self, value: Any) -> str:
        return ago(value, self.now())

    def on_mount(self) -> None:
        self.table.focus()
        self.reload()
        self.set_interval(REFRESH_SECONDS, self._refresh_reachability)
        self.reload_when_dirty(1.0)

    def _refresh_reachability(self) -> None:
        if self.is_current and self.unavailable is None:
            self.reload()

    def reload(self) -> None:
        self.load()

    def action_reload(self) -> None:
        self.identity = None  # `r` reads everything again
        self.reload()

    @work(exclusive=True, group="peers-load", exit_on_error=False)
    async def load(self) -> None:
        client = await self.connected()
        if not client.capabilities.federation:
            self._say(NOT_FEDERATED)
            return
        try:
            header = self.identity or await own_identity(client)
            peers = await client.federation_peers()
        except Exception as exc:
            problem = self.problem(exc)
            self._say(f"Peers: {problem}")
            return
        self.unavailable = None
        if header is not self.identity:
            self.identity = header
            self.query_one("#identity", Static).update(header)
        self.peers = {peer_key(peer): peer for peer in peers}
        self.table.empty_text = "No peers configured (federation_peers or federation_config)."
        self.table.set_rows(self.row(peer) for peer in peers)
        self.loaded = True

    def _say(self, line: str) -> None:
        """One line in place of the table: federation off, or not readable now."""
        self.unavailable = line
        self.identity = None  # shown again once readable
        self.query_one("#identity", Static).update(Text(line, style="italic yellow"))
        self.table.empty_text = line
        self.table.set_rows([])
        self.loaded = True

    def row(self, peer: PeerView) -> Row:
        rtt = f"{peer.rtt_ms:g} ms" if peer.reachable and peer.rtt_ms is not None else "-"
        agents = str(len(peer.public_agents)) if peer.public_agents else "-"
        cells = (
            reach(peer),
            rtt,
            peer.url or "-",
            peer.did or "-",
            key_cell(peer),
            "yes" if peer.trusted else "no",
            "",
            str(peer.dispatches_out),
            str(peer.dispatches_in),
            agents,
        )
        values = (
            cells[0],
            peer.rtt_ms,
            cells[2],
            cells[3],
            cells[4],
            cells[5],
            peer.last_contact_at,
            peer.dispatches_out,
            peer.dispatches_in,
            len(peer.public_agents),
        )
        style = "bold red" if peer.key_mismatch else ""
        return Row(peer_key(peer), cells, values, style=style)

    @on(EventsReceived)
    def on_events(self, message: EventsReceived) -> None:
        if any(is_federation_event(e) for e in message.events):
            self.dirty = True

    @on(ConnectionChanged)
    def on_connection(self, message: ConnectionChanged) -> None:
        self.table.stale = message.state not in ("live", "unavailable")

    @on(VirtualTable.Selected, "#peers-table")
    def on_selected(self) -> None:
        key = self.table.cursor_key
        if key and key in self.peers:
            from .peer_detail import PeerScreen

            self.app.push_screen(PeerScreen(self.peers[key]))

    def action_filter(self) -> None:
        self.query_one(FilterLine).open()

    @on(FilterLine.Applied)
    def on_filter(self, message: FilterLine.Applied) -> None:
        self.table.set_filter(message.text)
        if message.done:
            self.table.focus()

    def action_sort(self, column: str) -> None:
        self.table.sort_by(column)

    def action_copy_id(self) -> None:
        self.copy_id(self.table.cursor_key)
