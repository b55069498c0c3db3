"""`:dispatches`: intents sent to peers (out) or received from them (in), newest first; `t`
toggles the direction, enter opens the local intent.

How the screen learns of changes: creating a dispatch and every callback log `federation.*`
events on the intent, which arrive on the global stream and make the screen re-read its page
(coalesced). A delivery attempt (pending → delivered / rejected / failed, the attempt count,
the last error) logs no event, so while a row shown is still `pending` the page is re-read
every `PENDING_REFRESH_SECONDS`; with nothing pending nothing is polled."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from backend.wire.federation import DispatchView

from ..client.api import ServerAPI
from ..messages import ConnectionChanged, EventsReceived
from ..widgets.filter_line import FilterLine
from ..widgets.virtual_table import Column, Row, VirtualTable
from .base import ConsoleScreen
from .format import ago
from .peers import NOT_FEDERATED, is_federation_event

PAGE = 200
PENDING_REFRESH_SECONDS = 5.0
DISPATCH_STYLES = {
    "pending": "bold magenta",
    "delivered": "cyan",
    "accepted": "bold green",
    "rejected": "bold red",
    "failed": "bold red",
    "completed": "blue",
}


def local_intent(view: DispatchView) -> str | None:
    """The intent on this server: the one sent (out) or the one created on receipt (in)."""
    return view.intent_id if view.direction == "out" else view.local_intent_id


def remote_intent(view: DispatchView) -> str | None:
    return view.remote_intent_id if view.direction == "out" else view.intent_id


def peer_of(view: DispatchView) -> str:
    if view.direction == "out":
        return view.target_server
    return view.source_server or view.source_did or "-"


def tail_id(value: str | None) -> str:
    """The last 8 characters: ids are time-ordered UUIDs (v7), whose heads are all alike."""
    return (value or "-")[-8:]


async def load_titles(
    client: ServerAPI, views: list[DispatchView], titles: dict[str, str], limit: int = 50
) -> None:
    """Fill `titles` with the titles of the local intents of `views` it lacks (at most
    `limit` requests; the others show by id)."""
    missing = {local_intent(v) for v in views} - set(titles) - {None}
    for intent_id in sorted(i for i in missing if i is not None)[:limit]:
        try:
            titles[intent_id] = (await client.get_intent(intent_id)).title
        except Exception:
            titles[intent_id] = tail_id(intent_id)


def dispatch_columns(ago_fmt: Callable[[Any], str]) -> list[Column]:
    return [
        Column("status", "STATUS", 9),
        Column("dir", "DIR", 3),
        Column("age", "AGE", 11, fmt=ago_fmt),
        Column("attempts", "TRIES", 5),
        Column("peer", "PEER", 22),
        Column("local", "LOCAL INTENT", 24),
        Column("remote", "REMOTE", 8),
        Column("error", "LAST ERROR", 20),
    ]


def dispatch_row(view: DispatchView, titles: dict[str, str]) -> Row:
    local = local_intent(view)
    local_text = titles.get(local, tail_id(local)) if local else "-"
    cells = (
        view.status,
        view.direction,
        "",
        str(view.attempts),
        peer_of(view),
        local_text,
        tail_id(remote_intent(view)),
        view.last_error or "",
    )
    values = (
        view.status,
        view.direction,
        view.created_at,
        view.attempts,
        cells[4],
        local_text.lower(),
        cells[6],
        cells[7],
    )
    return Row(view.dispatch_id, cells, values)


class DispatchesScreen(ConsoleScreen):
    BINDINGS = [
        Binding("t", "toggle_direction", "Out/in", id="dispatches.toggle"),
        Binding("slash", "filter", "Filter", id="dispatches.filter"),
        Binding("S", "sort('status')", "Sort status", id="dispatches.sort_status"),
        Binding("A", "sort('age')", "Sort age", show=False, id="dispatches.sort_age"),
        Binding("r", "reload", "Reload", id="dispatches.reload"),
        Binding("y", "copy_id", "Copy id", show=False, id="dispatches.copy_id"),
    ]

    def __init__(self, direction: str = "out") -> None:
        super().__init__()
        self.direction = direction
        self.crumb = self._crumb()
        self.dispatches: dict[str, DispatchView] = {}
        self.titles: dict[str, str] = {}
        self.total = 0
        self.loaded = False
        self.unavailable: str | None = None

    def _crumb(self) -> str:
        return "Dispatches out" if self.direction == "out" else "Dispatches in"

    def compose_body(self) -> ComposeResult:
        yield FilterLine(id="filter")
        yield Static(id="counts")
        yield VirtualTable(
            dispatch_columns(self._ago),
            empty_text="Loading dispatches…",
            status_styles=DISPATCH_STYLES,
            id="dispatches-table",
        )

    @property
    def table(self) -> VirtualTable:
        return self.query_one("#dispatches-table", VirtualTable)

    def _ago(self, value: Any) -> str:
        return ago(value, self.now())

    def on_mount(self) -> None:
        self.table.focus()
        self.reload()
        self.set_interval(PENDING_REFRESH_SECONDS, self._refresh_pending)
        self.reload_when_dirty(0.5)

    def _refresh_pending(self) -> None:
        if self.is_current and any(d.status == "pending" for d in self.dispatches.values()):
            self.reload()

    def reload(self) -> None:
        self.load()

    @work(exclusive=True, group="dispatches-load", exit_on_error=False)
    async def load(self) -> None:
        client = await self.connected()
        if not client.capabilities.federation:
            self._say(NOT_FEDERATED)
            return
        direction = self.direction
        try:
            page = await client.list_dispatches(direction=direction, limit=PAGE)
        except Exception as exc:
            self._say(f"Dispatches: {self.problem(exc)}")
            return
        if direction != self.direction:
            return  # toggled meanwhile: the newer load shows its own
        await load_titles(client, page.dispatches, self.titles)
        self.unavailable = None
        self.total = page.total
        self.dispatches = {d.dispatch_id: d for d in page.dispatches}
        self.table.empty_text = (
            "Nothing sent to a peer yet (D on an intent sends it)."
            if direction == "out"
            else "Nothing received from a peer yet."
        )
        self.table.set_rows(dispatch_row(d, self.titles) for d in page.dispatches)
        shown = len(page.dispatches)
        more = f" (newest {shown} shown)" if page.total > shown else ""
        what = "sent to peers" if direction == "out" else "received from peers"
        self.query_one("#counts", Static).update(f" {page.total} dispatches {what}{more}")
        self.loaded = True

    def _say(self, line: str) -> None:
        self.unavailable = line
        self.dispatches = {}
        self.table.empty_text = line
        self.table.set_rows([])
        self.query_one("#counts", Static).update("")
        self.loaded = True

    @on(EventsReceived)
    def on_events(self, message: EventsReceived) -> None:
        if any(is_federation_event(e) for e in message.events):
            self.dirty = True

    @on(ConnectionChanged)
    def on_connection(self, message: ConnectionChanged) -> None:
        self.table.stale = message.state not in ("live", "unavailable")

    @on(VirtualTable.Selected, "#dispatches-table")
    def on_selected(self) -> None:
        view = self.dispatches.get(self.table.cursor_key or "")
        if view is None:
            return
        intent_id = local_intent(view)
        if intent_id is None:
            self.notify("This dispatch made no intent here (it was refused)", severity="warning")
        else:
            self.console.open_intent(intent_id)

    def action_toggle_direction(self) -> None:
        self.direction = "in" if self.direction == "out" else "out"
        self.set_crumb(self._crumb())
        self.dispatches = {}
        self.table.empty_text = "Loading dispatches…"
        self.table.set_rows([])
        self.loaded = False
        self.reload()

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
