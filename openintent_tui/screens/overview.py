"""`:overview` (`:pulses`): the fleet at a glance. Intents by status (the server's counts),
events per second, failures, status changes and grants over the last ten minutes as
sparklines, leases expiring soon, pending arbitrations, budgets near their limit and the
latest failures. The sparklines and budgets come from the live stream (`pulse.Pulse`);
lists are re-read only when an event says they changed."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static

from backend.domain.clock import parse_iso_or_none
from backend.domain.lifecycle import STATUSES
from backend.wire.governance import Arbitration
from backend.wire.leases import Lease

from ..client.api import ServerAPI
from ..client.errors import ClientError, Unavailable
from ..client.stream import head_sequence
from ..messages import EventsReceived
from ..pulse import BUCKET_SECONDS, BUCKETS
from ..widgets.pulse_card import PulseCard
from .base import UNAVAILABLE, ConsoleScreen, optional
from .format import STATUS_STYLES, ago, short_id, until

EXPIRING_SOON = 600.0
"""Leases expiring within this many seconds are listed."""
BACKFILL = 1000
SHOWN = 6
COUNT_EVENTS = frozenset({"intent_created", "status_changed"})
LEASE_EVENTS = frozenset({"lease_acquired", "lease_released"})
ARB_EVENTS = frozenset({"arbitration_requested", "decision_recorded"})
CARDS = (
    ("events", "events/s"),
    ("failures", "failures"),
    ("status", "status changes"),
    ("leases", "leases granted"),
)


async def status_counts(client: ServerAPI) -> tuple[int, dict[str, int], str]:
    """(total, by status, where from). The client counts a server without the counts endpoint
    from its lists' `total`; a server that cannot list intents cannot be counted."""
    if not client.capabilities.list_intents:
        raise Unavailable(0, "This server cannot count intents", None)
    source = "server counts" if await client.keyset_intents() else "counted from filtered lists"
    counts = await client.intent_counts()
    return counts.total, dict(counts.by_status), source


class OverviewScreen(ConsoleScreen):
    crumb = "Overview"

    BINDINGS = [Binding("r", "reload", "Reload", id="overview.reload")]

    def __init__(self) -> None:
        super().__init__()
        self.loaded = False
        self.counts: tuple[int, dict[str, int], str] | None = None
        self.counts_problem: str | None = None
        self.leases: list[Lease] | None = None
        self.leases_problem: str | None = None
        self.arbitrations: list[Arbitration] | None = None
        self.arbitrations_problem: str | None = None
        self.titles: dict[str, str] = {}
        self._counts_dirty = self._leases_dirty = self._arbs_dirty = False
        self._titles_dirty = False

    def compose_body(self) -> ComposeResult:
        yield Static(id="counts")
        with Horizontal(id="pulse-cards"):
            for key, title in CARDS:
                yield PulseCard(title, id=f"card-{key}")
        rows = (
            (("leases", "leases expiring soon"), ("arbitrations", "pending arbitrations")),
            (("budgets", "budgets near their limit"), ("failures", "latest failures")),
        )
        for row in rows:
            with Horizontal(classes="overview-row"):
                for key, title in row:
                    with VerticalScroll(id=f"panel-{key}", classes="overview-panel") as panel:
                        panel.border_title = title
                        yield Static("…", id=f"body-{key}")

    def on_mount(self) -> None:
        self.reload()
        self.set_interval(1.0, self.redraw)  # countdowns and sparklines: local, no requests
        self.set_interval(2.0, self._reload_dirty)

    def reload(self) -> None:
        self.load()

    @work(exclusive=True, group="overview-load", exit_on_error=False)
    async def load(self) -> None:
        client = await self.connected()
        await self._backfill(client)
        await self._load_counts(client)
        await self._load_leases(client)
        await self._load_arbitrations(client)
        await self._titles(client, self._attention_intents())
        self.loaded = True
        self.redraw()

    def _attention_intents(self) -> set[str]:
        """Intents named by the budgets and failures panels."""
        pulse = self.console.pulse
        failing = {event.intent_id for event in pulse.failures if event.intent_id}
        return set(pulse.budgets) | failing

    async def _backfill(self, client: ServerAPI) -> None:
        """The last events of the log, so the sparklines and budgets are not empty on open."""
        if not client.capabilities.global_stream:
            return
        try:
            head = self.console.last_global_sequence or await head_sequence(client) or 0
            page = await client.events_after(max(head - BACKFILL, 0), BACKFILL)
        except ClientError:
            return
        self.console.pulse.record(page.events)

    async def _load_counts(self, client: ServerAPI) -> None:
        try:
            self.counts, self.counts_problem = await status_counts(client), None
        except ClientError as exc:
            self.counts_problem = self.problem(exc)

    async def _load_leases(self, client: ServerAPI) -> None:
        if not client.capabilities.list_all_leases:
            self.leases, self.leases_problem = None, UNAVAILABLE
            return
        self.leases, self.leases_problem = await optional(client.list_leases(status="active"))
        await self._titles(client, {lease.intent_id for lease in self.leases or []})

    async def _load_arbitrations(self, client: ServerAPI) -> None:
        if not client.capabilities.arbitration_queue:
            self.arbitrations, self.arbitrations_problem = None, UNAVAILABLE
            return
        found, self.arbitrations_problem = await optional(client.list_arbitrations("pending"))
        self.arbitrations = [a for a in found or [] if a.status == "pending"]
        await self._titles(client, {a.intent_id for a in self.arbitrations})

    async def _titles(self, client: ServerAPI, intent_ids: set[str]) -> None:
        for intent_id in sorted(intent_ids - set(self.titles))[:50]:
            intent, _ = await optional(client.get_intent(intent_id))
            self.titles[intent_id] = intent.title if intent is not None else short_id(intent_id)

    def title_of(self, intent_id: str | None) -> str:
        if not intent_id:
            return "-"
        return self.titles.get(intent_id) or short_id(intent_id)

    # ---- live ------------------------------------------------------------------------------

    @on(EventsReceived)
    def on_events(self, message: EventsReceived) -> None:
        kinds = {event.event_type for event in message.events}
        self._counts_dirty |= bool(kinds & COUNT_EVENTS)
        self._leases_dirty |= bool(kinds & LEASE_EVENTS)
        self._arbs_dirty |= bool(kinds & ARB_EVENTS)
        self._titles_dirty |= bool(self._attention_intents() - set(self.titles))

    def _reload_dirty(self) -> None:
        if not (self.loaded and self.is_current):
            return
        dirty = (self._counts_dirty, self._leases_dirty, self._arbs_dirty, self._titles_dirty)
        if any(dirty):
            self.reload_changed(*dirty)
            self._counts_dirty = self._leases_dirty = self._arbs_dirty = False
            self._titles_dirty = False

    @work(exclusive=True, group="overview-refresh", exit_on_error=False)
    async def reload_changed(
        self, counts: bool, leases: bool, arbitrations: bool, titles: bool
    ) -> None:
        client = self.client
        if counts:
            await self._load_counts(client)
        if leases:
            await self._load_leases(client)
        if arbitrations:
            await self._load_arbitrations(client)
        if titles:
            await self._titles(client, self._attention_intents())
        self.redraw()

    # ---- drawing ---------------------------------------------------------------------------

    def redraw(self) -> None:
        if not self.loaded:
            return
        self.query_one("#counts", Static).update(self._counts_text())
        now = self.now().timestamp()
        pulse = self.console.pulse
        span = f"{BUCKETS * BUCKET_SECONDS // 60}m"
        for key, _ in CARDS:
            card = self.query_one(f"#card-{key}", PulseCard)
            series = pulse.series(key, now)
            if key == "events":
                figure = Text(f"{self.console.event_rate():.1f}", style="bold")
                figure.append(f"  {sum(series)} in {span}", style="dim")
            else:
                figure = Text(str(sum(series)), style="bold red" if key == "failures" else "bold")
                figure.append(f" in {span}", style="dim")
            card.show(figure, series)
        self._body("leases", self._leases_text())
        self._body("arbitrations", self._arbitrations_text())
        self._body("budgets", self._budgets_text())
        self._body("failures", self._failures_text())

    def _body(self, key: str, text: Text) -> None:
        self.query_one(f"#body-{key}", Static).update(text)

    def _counts_text(self) -> Text:
        text = Text(no_wrap=True)
        if self.counts is None:
            text.append(f" intents by status: {self.counts_problem or '…'}", style="yellow")
            return text
        total, by_status, source = self.counts
        text.append(f" {total} intents", style="bold")
        for status in STATUSES:
            if by_status.get(status):
                text.append("  ")
                text.append(f"{status} {by_status[status]}", style=STATUS_STYLES.get(status, ""))
        text.append(f"   ({source})", style="dim")
        return text

    def _leases_text(self) -> Text:
        if self.leases is None:
            return Text(f"leases: {self.leases_problem}", style="italic yellow")
        now = self.now()
        soon = []
        for lease in self.leases:
            expires = parse_iso_or_none(lease.expires_at)
            if expires is not None and (expires - now).total_seconds() <= EXPIRING_SOON:
                soon.append((expires, lease))
        soon.sort(key=lambda item: item[0])
        text = Text(no_wrap=True)
        text.append(f"{len(soon)} of {len(self.leases)} active expire within ", style="dim")
        text.append(f"{int(EXPIRING_SOON // 60)} min\n", style="dim")
        for _, lease in soon[:SHOWN]:
            text.append(f"{until(lease.expires_at, now):<10}", style="yellow")
            text.append(f" {lease.scope} ")
            text.append(f"{lease.agent_id} ", style="cyan")
            text.append(self.title_of(lease.intent_id), style="dim")
            text.append("\n")
        return text

    def _arbitrations_text(self) -> Text:
        if self.arbitrations is None:
            return Text(f"arbitrations: {self.arbitrations_problem}", style="italic yellow")
        cases = sorted(self.arbitrations, key=lambda a: a.created_at)
        text = Text(no_wrap=True)
        if not cases:
            text.append("none waiting for a decision", style="dim")
            return text
        text.append(f"{len(cases)} waiting (3 opens the queue)\n", style="bold magenta")
        now = self.now()
        for case in cases[:SHOWN]:
            text.append(f"{ago(case.created_at, now):<10}", style="yellow")
            text.append(f" {self.title_of(case.intent_id)}: ", style="bold")
            text.append(case.reason)
            text.append("\n")
        return text

    def _budgets_text(self) -> Text:
        budgets = self.console.pulse.budgets
        text = Text(no_wrap=True)
        if not budgets:
            text.append("no budget alert seen in the recent log", style="dim")
            return text
        rows = sorted(budgets.items(), key=lambda item: not item[1][1].get("exceeded"))
        for intent_id, (_, figures) in rows[:SHOWN]:
            exceeded = bool(figures.get("exceeded"))
            style = "bold red" if exceeded else "yellow"
            text.append("EXCEEDED " if exceeded else "alert    ", style=style)
            text.append(f"{_figure(figures.get('spent'))}/{_figure(figures.get('limit'))}")
            text.append(f" {figures.get('unit', '')} ")
            text.append(self.title_of(intent_id), style="dim")
            text.append("\n")
        return text

    def _failures_text(self) -> Text:
        failures = list(self.console.pulse.failures)
        text = Text(no_wrap=True)
        if not failures:
            text.append("no failures in the recent log", style="dim")
            return text
        for event in reversed(failures[-SHOWN:]):
            payload = event.payload
            why = (
                payload.get("error_message")
                or payload.get("error")
                or payload.get("detail")
                or payload.get("message")
                or ""
            )
            text.append(f"{event.created_at[11:19]} ", style="dim")
            text.append(f"{event.event_type} ", style="red")
            text.append(f"{self.title_of(event.intent_id)} ", style="bold")
            text.append(str(why))
            text.append("\n")
        return text


def _figure(value: Any) -> str:
    """1650000 -> "1,650,000"; 12.5 -> "12.5" (never exponent notation)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return str(value)
