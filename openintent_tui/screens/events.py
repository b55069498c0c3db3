"""`:events`: the whole server's event log, live, newest first. Filter by type (`t`), actor
(`a`) and intent (`i`), or on the `:` line (`:events type=lease_acquired actor=writer`);
`/` filters by any text; `enter` or `d` shows an event with its full payload."""

from __future__ import annotations

import itertools
from typing import Any

import msgspec
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from backend.wire.events import Event

from ..client.api import ServerAPI
from ..client.errors import ClientError
from ..client.stream import head_sequence
from ..messages import ConnectionChanged, EventsReceived
from ..modals.text_prompt import TextPrompt
from ..widgets.event_tail import KIND_STYLES
from ..widgets.filter_line import FilterLine
from ..widgets.virtual_table import Column, Row, VirtualTable
from .base import UNAVAILABLE, ConsoleScreen
from .format import short_id

BACKFILL = 500
"""Events read from the log when the view opens; the stream adds the rest."""
MAX_ROWS = 5000
ID_LENGTH = 36
INTENT_PAGE = 1000
INTENT_PAGES = 5


class EventFilter(msgspec.Struct, frozen=True):
    """Case-insensitive: `type` and `actor` match a part of the name; `intent` a prefix of
    the intent's id or a part of its title."""

    type: str = ""
    actor: str = ""
    intent: str = ""

    def __bool__(self) -> bool:
        return bool(self.type or self.actor or self.intent)

    def matches(self, event: Event, title: str) -> bool:
        if self.type and self.type.lower() not in event.event_type.lower():
            return False
        if self.actor and self.actor.lower() not in (event.actor or "").lower():
            return False
        if self.intent:
            needle = self.intent.lower()
            intent_id = (event.intent_id or "").lower()
            if not (intent_id.startswith(needle) or needle in title.lower()):
                return False
        return True

    def describe(self) -> str:
        return "  ".join(f"{k}={v}" for k, v in msgspec.structs.asdict(self).items() if v)


def payload_summary(payload: dict[str, Any]) -> str:
    parts = []
    for key, value in payload.items():
        text = str(value)
        parts.append(f"{key}={text if len(text) <= 40 else text[:39] + '…'}")
    return " ".join(parts)


class EventsScreen(ConsoleScreen):
    crumb = "Events"

    BINDINGS = [
        Binding("slash", "filter", "Filter", id="events.filter"),
        Binding("t", "filter_field('type')", "Type", id="events.type"),
        Binding("a", "filter_field('actor')", "Actor", id="events.actor"),
        Binding("i", "filter_field('intent')", "Intent", id="events.intent"),
        Binding("c", "clear_filters", "Clear filters", id="events.clear"),
        Binding("o", "open_intent", "Open intent", id="events.open_intent"),
        Binding("r", "reload", "Reload", id="events.reload"),
        Binding("y", "copy_id", "Copy id", show=False, id="events.copy_id"),
    ]

    def __init__(self, event_filter: EventFilter | None = None) -> None:
        super().__init__()
        self.event_filter = event_filter or EventFilter()
        self.events: dict[str, Event] = {}
        self.loaded = False
        self.problem_text: str | None = None

    def compose_body(self) -> ComposeResult:
        yield FilterLine(id="filter")
        yield Static(id="counts")
        yield VirtualTable(
            [
                Column("time", "TIME", 8),
                Column("seq", "#", 6, priority=3),
                Column("type", "TYPE", 22),
                Column("actor", "ACTOR", 12, priority=2),
                Column("intent", "INTENT", 18, flex=True, priority=2),
                Column("payload", "PAYLOAD", 24, flex=True),
            ],
            empty_text="Loading the event log…",
            id="events-table",
        )

    @property
    def table(self) -> VirtualTable:
        return self.query_one("#events-table", VirtualTable)

    def on_mount(self) -> None:
        self.table.focus()
        self.table.sort_by("seq", reverse=True)
        self._apply_filter()
        self.reload()

    # ---- loading -------------------------------------------------------------------------

    def reload(self) -> None:
        self.load()

    @work(exclusive=True, group="events-load", exit_on_error=False)
    async def load(self) -> None:
        client = await self.connected()
        if self.intent_id is not None:
            await self._load_intent(client, self.intent_id)
            return
        if not client.capabilities.global_stream:
            self.problem_text = (
                f"The server-wide event log: {UNAVAILABLE} (an intent's own events are"
                " on its detail screen)"
            )
            self.table.empty_text = self.problem_text
            self.table.refresh()
            self.loaded = True
            self._update_counts()
            return
        try:
            head = self.console.last_global_sequence or await head_sequence(client) or 0
            page = await client.events_after(max(head - BACKFILL, 0), BACKFILL)
        except ClientError as exc:
            self.problem_text = f"Cannot read the event log: {self.problem(exc)}"
            self.table.empty_text = self.problem_text
            self.table.refresh()
            self.loaded = True
            self._update_counts()
            return
        self.problem_text = None
        self.add(page.events, defer=False)
        self.table.empty_text = "No events match." if self.event_filter else "No events yet."
        self.loaded = True
        self._update_counts()

    @property
    def intent_id(self) -> str | None:
        """One intent's whole log, read from its own endpoint, when filtered to a full id."""
        wanted = self.event_filter.intent
        return wanted if len(wanted) == ID_LENGTH else None

    async def _load_intent(self, client: ServerAPI, intent_id: str) -> None:
        cursor = 0
        try:
            for _ in range(INTENT_PAGES):
                page = await client.list_events(intent_id, INTENT_PAGE, cursor)
                self.add(page.events, defer=False)
                if page.next_cursor is None or not page.events:
                    break
                cursor = page.next_cursor
        except ClientError as exc:
            self.problem_text = f"Cannot read the event log: {self.problem(exc)}"
            self.table.empty_text = self.problem_text
        else:
            self.problem_text = None
            self.table.empty_text = "No events match."
        self.table.refresh()
        self.loaded = True
        self._update_counts()

    def title_of(self, intent_id: str | None) -> str:
        if not intent_id:
            return "-"
        for screen in self.app.screen_stack:  # the intents list knows the titles
            intents = getattr(screen, "intents", None)
            if isinstance(intents, dict) and intent_id in intents:
                return f"{intents[intent_id].title} {short_id(intent_id)}"
        return short_id(intent_id)

    def row(self, event: Event) -> Row:
        kind = event.event_type
        return Row(
            event.id,
            (
                event.created_at[11:19],
                str(event.global_sequence),
                kind,
                event.actor or "-",
                self.title_of(event.intent_id),
                payload_summary(event.payload),
            ),
            (
                event.created_at,
                event.global_sequence,
                kind,
                event.actor or "",
                event.intent_id or "",
                "",
            ),
            style=KIND_STYLES.get(kind, ""),
        )

    def add(self, events: list[Event], *, defer: bool = True) -> None:
        fresh = [event for event in events if event.id not in self.events]
        if not fresh:
            return
        for event in fresh:
            self.events[event.id] = event
        self.table.upsert((self.row(event) for event in fresh), defer=defer)
        if len(self.events) > MAX_ROWS:  # the first read go: a bounded view of a live log
            drop = list(itertools.islice(self.events, len(self.events) - MAX_ROWS))
            for key in drop:
                del self.events[key]
            self.table.remove(drop)

    @on(EventsReceived)
    def on_events(self, message: EventsReceived) -> None:
        if self.loaded and self.problem_text is None:
            self.add(message.events)
            self._update_counts()

    @on(ConnectionChanged)
    def on_connection(self, message: ConnectionChanged) -> None:
        self.table.stale = message.state != "live"
        self.table.refresh()

    # ---- filters ---------------------------------------------------------------------------

    def _apply_filter(self) -> None:
        wanted = self.event_filter
        if not wanted:
            self.table.set_row_filter(None)
        else:

            def keep(row: Row) -> bool:
                event = self.events.get(row.key)
                return event is not None and wanted.matches(event, row.cells[4])

            self.table.set_row_filter(keep)
        self._update_counts()

    def set_event_filter(self, event_filter: EventFilter) -> None:
        self.event_filter = event_filter
        if self.loaded and self.problem_text is None:
            self.table.empty_text = "No events match." if event_filter else "No events yet."
        self._apply_filter()

    def _update_counts(self) -> None:
        text = Text(no_wrap=True)
        text.append(f" {len(self.events)} events", style="bold")
        if self.table.row_count != len(self.events):
            text.append(f" ({self.table.row_count} shown)", style="dim")
        text.append("  live, newest first", style="dim")
        if self.event_filter:
            text.append(f"   {self.event_filter.describe()}", style="yellow")
        if self.table.filter_text:
            text.append(f"   /{self.table.filter_text}", style="yellow")
        self.query_one("#counts", Static).update(text)

    def action_filter_field(self, field: str) -> None:
        current = getattr(self.event_filter, field)
        hints = {
            "type": "a part of the type, e.g. lease or status_changed",
            "actor": "a part of the actor's id",
            "intent": "a prefix of the intent id, or a part of its title",
        }
        prompt = TextPrompt(
            f"Show events whose {field} matches (empty shows all)",
            placeholder=f"{hints[field]}" + (f" (now: {current})" if current else ""),
            required=False,
        )

        def given(value: str | None) -> None:
            if value is not None:
                self.set_event_filter(msgspec.structs.replace(self.event_filter, **{field: value}))

        self.app.push_screen(prompt, given)

    def action_clear_filters(self) -> None:
        self.set_event_filter(EventFilter())
        self.table.set_filter("")
        self._update_counts()

    def action_filter(self) -> None:
        self.query_one(FilterLine).open()

    @on(FilterLine.Applied)
    def on_filter(self, message: FilterLine.Applied) -> None:
        self.table.set_filter(message.text)
        self._update_counts()
        if message.done:
            self.table.focus()

    # ---- one event -------------------------------------------------------------------------

    def _current(self) -> Event | None:
        return self.events.get(self.table.cursor_key or "")

    def describe_target(self) -> tuple[str, object, str | None] | None:
        event = self._current()
        return ("event", event, event.id) if event is not None else None

    @on(VirtualTable.Selected, "#events-table")
    def on_selected(self) -> None:
        self.action_describe()

    def action_open_intent(self) -> None:
        event = self._current()
        if event is None or not event.intent_id:
            self.notify("No event with an intent selected", severity="warning")
            return
        self.console.open_intent(event.intent_id)

    def action_copy_id(self) -> None:
        self.copy_id(self.table.cursor_key)
