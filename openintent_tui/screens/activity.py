"""`@`: what this operator did from the console in this session, oldest first (lazygit's
command log). Every mutation is listed with its outcome, refusals included, and with the
context it went to, so a session across contexts stays readable."""

from __future__ import annotations

from typing import NamedTuple

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from .base import ConsoleScreen


class AuditEntry(NamedTuple):
    at: str
    """Local wall-clock time, HH:MM:SS."""
    context: str
    what: str
    """What was done (the toast's words), or what was attempted when it failed."""
    error: str | None
    """None when it was done; else why it was refused."""


EMPTY = (
    "Nothing done from this console yet. Grants, renewals, releases, revocations, decisions,"
    " status changes and assignments made here are listed as they happen."
)


_NOTHING_SHOWN = object()


class ActivityScreen(ConsoleScreen):
    crumb = "Activity"

    def __init__(self) -> None:
        super().__init__()
        self._latest: object = _NOTHING_SHOWN

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="activity"):
            yield Static(id="activity-log")

    def on_mount(self) -> None:
        self.reload()
        self.set_interval(0.5, self._show_new)

    def reload(self) -> None:
        self._latest = _NOTHING_SHOWN
        self._show_new()

    def _show_new(self) -> None:
        entries = list(self.console.audit_log)
        # The newest entry, not the count: the log is bounded, so once full its length
        # stays the same while entries keep arriving.
        latest = entries[-1] if entries else None
        if latest is self._latest:
            return
        self._latest = latest
        text = Text(no_wrap=False)
        if not entries:
            text.append(EMPTY, style="dim")
        for entry in entries:
            text.append(f"{entry.at}  ", style="dim")
            text.append(f"{entry.context}  ", style="cyan")
            if entry.error is None:
                text.append("done    ", style="green")
                text.append(entry.what)
            else:
                text.append("failed  ", style="bold red")
                text.append(f"{entry.what}: {entry.error}")
            text.append("\n")
        self.query_one("#activity-log", Static).update(text)
        self.query_one("#activity", VerticalScroll).scroll_end(animate=False)
