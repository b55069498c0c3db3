"""Portfolios with aggregate progress; one portfolio's members by status; drill into an intent."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from backend.wire.portfolios import Portfolio, PortfolioDetail

from ..client.errors import ClientError
from ..messages import EventsReceived
from ..widgets.virtual_table import Column, Row, VirtualTable
from .base import ConsoleScreen
from .format import STATUS_STYLES, ago, short_id

BAR = 20
ORDER = ("active", "blocked", "suspended_awaiting_input", "draft", "completed", "abandoned")


def progress_bar(percent: int, width: int = BAR) -> str:
    filled = round(max(0, min(percent, 100)) * width / 100)
    return "■" * filled + "·" * (width - filled) + f" {percent:>3}%"


SHORT = {"suspended_awaiting_input": "suspended"}


def by_status_text(by_status: dict[str, int]) -> str:
    return "  ".join(f"{SHORT.get(s, s)} {by_status[s]}" for s in ORDER if by_status.get(s)) or "-"


def aggregate_of(detail: Portfolio) -> tuple[int, int, dict[str, int]]:
    """(total, percent, by_status) from the server's aggregate, else counted from members
    (none when only the bare portfolio could be read)."""
    members = detail.intents if isinstance(detail, PortfolioDetail) else []
    aggregate = detail.aggregate_status if isinstance(detail, PortfolioDetail) else None
    if aggregate is not None:
        return aggregate.total, aggregate.completion_percentage, dict(aggregate.by_status)
    counts = Counter(m.status for m in members)
    total = len(members)
    return total, (counts.get("completed", 0) * 100 // total if total else 0), dict(counts)


class PortfoliosScreen(ConsoleScreen):
    crumb = "Portfolios"

    BINDINGS = [Binding("r", "reload", "Reload", id="portfolios.reload")]

    def __init__(self) -> None:
        super().__init__()
        self.details: dict[str, Portfolio] = {}
        self.loaded = False

    def compose_body(self) -> ComposeResult:
        yield Static(id="counts")
        yield VirtualTable(
            [
                Column("name", "PORTFOLIO", 20, flex=True),
                Column("status", "STATUS", 10),
                Column("progress", "PROGRESS", BAR + 5),
                Column("total", "INTENTS", 7, priority=2),
                Column("by_status", "MEMBERS BY STATUS", 30, flex=True, priority=3),
            ],
            empty_text="Loading portfolios…",
            id="portfolios-table",
        )

    @property
    def table(self) -> VirtualTable:
        return self.query_one("#portfolios-table", VirtualTable)

    def on_mount(self) -> None:
        self.table.focus()
        self.load()
        self.reload_when_dirty(1.0)

    def reload(self) -> None:
        self.load()

    @work(exclusive=True, group="portfolios-load", exit_on_error=False)
    async def load(self) -> None:
        client = await self.connected()
        try:
            portfolios = await client.list_portfolios()
        except Exception as exc:
            self.table.empty_text = f"Portfolios: {self.problem(exc)}"
            self.table.set_rows([])
            self.loaded = True
            return
        details: dict[str, Portfolio] = {}
        for portfolio in portfolios:
            try:
                details[portfolio.id] = await client.get_portfolio(portfolio.id)
            except Exception:
                details[portfolio.id] = portfolio
        self.details = details
        self.table.empty_text = "No portfolios yet."
        self.table.set_rows(self.row(d) for d in details.values())
        self.loaded = True
        self.query_one("#counts", Static).update(f" {len(details)} portfolios")

    def row(self, detail: Portfolio) -> Row:
        total, percent, by_status = aggregate_of(detail)
        return Row(
            detail.id,
            (
                detail.name,
                detail.status,
                progress_bar(percent),
                str(total),
                by_status_text(by_status),
            ),
            (detail.name.lower(), detail.status, percent, total, ""),
        )

    @on(EventsReceived)
    def on_events(self, message: EventsReceived) -> None:
        if message.events:
            self.dirty = True

    def describe_target(self) -> tuple[str, object, str | None] | None:
        portfolio = self.details.get(self.table.cursor_key or "")
        return ("portfolio", portfolio, portfolio.id) if portfolio is not None else None

    @on(VirtualTable.Selected, "#portfolios-table")
    def open_portfolio(self, message: VirtualTable.Selected) -> None:
        self.app.push_screen(PortfolioScreen(message.key))


class PortfolioScreen(ConsoleScreen):
    BINDINGS = [Binding("r", "reload", "Reload", id="portfolio.reload")]

    def __init__(self, portfolio_id: str) -> None:
        super().__init__()
        self.portfolio_id = portfolio_id
        self.crumb = f"Portfolio {short_id(portfolio_id)}"
        self.detail: PortfolioDetail | None = None
        self.loaded = False

    def compose_body(self) -> ComposeResult:
        yield Static("Loading…", id="progress")
        yield VirtualTable(
            [
                Column("status", "STATUS", 10),
                Column("title", "MEMBER", 24, flex=True),
                Column("role", "ROLE", 10, priority=2),
                Column("version", "VER", 5, priority=3),
                Column("updated", "UPDATED", 12, fmt=self._ago, priority=2),
                Column("id", "ID", 36, priority=4),
            ],
            empty_text="No members.",
            status_styles=STATUS_STYLES,
            id="members-table",
        )

    @property
    def table(self) -> VirtualTable:
        return self.query_one("#members-table", VirtualTable)

    def _ago(self, value: Any) -> str:
        return ago(value, self.now())

    def on_mount(self) -> None:
        self.table.focus()
        self.table.sort_by("status")
        self.load()
        self.reload_when_dirty(1.0)

    def reload(self) -> None:
        self.load()

    @work(exclusive=True, group="portfolio-load", exit_on_error=False)
    async def load(self) -> None:
        client = await self.connected()
        try:
            detail = await client.get_portfolio(self.portfolio_id)
        except Exception as exc:
            message = exc.message if isinstance(exc, ClientError) else str(exc)
            self.query_one("#progress", Static).update(
                Text(f"Cannot load portfolio: {message}", style="red")
            )
            self.loaded = True
            return
        self.detail = detail
        self.set_crumb(f"Portfolio: {detail.name[:30]}")
        roles = {m.intent_id: m.role for m in detail.memberships}
        total, percent, by_status = aggregate_of(detail)
        text = Text()
        text.append(detail.name, style="bold")
        text.append(f"  ({detail.status})\n")
        if detail.description:
            text.append(detail.description + "\n", style="dim")
        text.append(progress_bar(percent, 40), style="green")
        text.append(f"  {total} intents   {by_status_text(by_status)}")
        self.query_one("#progress", Static).update(text)
        self.table.set_rows(
            Row(
                i.id,
                (i.status, i.title, roles.get(i.id, "member"), str(i.version), "", i.id),
                (
                    ORDER.index(i.status) if i.status in ORDER else 99,
                    i.title.lower(),
                    roles.get(i.id, "member"),
                    i.version,
                    i.updated_at,
                    i.id,
                ),
            )
            for i in detail.intents
        )
        self.loaded = True

    @on(EventsReceived)
    def on_events(self, message: EventsReceived) -> None:
        members = {row.key for row in self.table.rows()}
        if any(
            e.intent_id in members or e.portfolio_id == self.portfolio_id for e in message.events
        ):
            self.dirty = True

    @on(VirtualTable.Selected, "#members-table")
    def open_member(self, message: VirtualTable.Selected) -> None:
        self.console.open_intent(message.key)

    def describe_target(self) -> tuple[str, object, str | None] | None:
        if self.detail is None:
            return None
        return ("portfolio", self.detail, self.detail.id)
