"""Grant a lease: agent, scope and duration. Returns a `LeaseGrant` or None."""

from __future__ import annotations

import msgspec
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DURATION_HELP = "duration: seconds (300) or with a unit: 90s, 5m, 1h, 1h30m"


def parse_duration(text: str) -> int | None:
    """Seconds from "300", "90s", "5m", "1h30m" (positive); None when it is not one."""
    text = text.strip().lower().replace(" ", "")
    if text.isdigit():
        return int(text) or None
    total, number = 0, ""
    for char in text:
        if char.isdigit():
            number += char
        elif char in UNITS and number:
            total, number = total + int(number) * UNITS[char], ""
        else:
            return None
    return total if total > 0 and not number else None


class LeaseGrant(msgspec.Struct, frozen=True):
    intent_id: str
    agent_id: str
    scope: str
    duration_seconds: int


class LeaseGrantModal(ModalScreen[LeaseGrant | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="grant.cancel")]

    def __init__(self, intent_id: str = "", agent_id: str = "") -> None:
        super().__init__()
        self.intent_id = intent_id
        self.agent_id = agent_id

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Grant a lease", classes="question")
            yield Input(self.intent_id, placeholder="intent id", id="grant-intent")
            yield Input(self.agent_id, placeholder="agent id (holder)", id="grant-agent")
            yield Input(placeholder="scope: a top-level state key, e.g. draft", id="grant-scope")
            yield Label("Duration (seconds; 5m, 1h also work)", id="grant-duration-label")
            yield Input("300", placeholder="seconds, e.g. 300 or 5m", id="grant-duration")
            yield Label(
                "tab = next field · enter = grant · esc = cancel", classes="hint", id="grant-hint"
            )

    def on_mount(self) -> None:
        for input_id in ("#grant-intent", "#grant-agent", "#grant-scope"):
            if not self.query_one(input_id, Input).value:
                self.query_one(input_id, Input).focus()
                return
        self.query_one("#grant-scope", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        values = {
            name: self.query_one(f"#grant-{name}", Input).value.strip()
            for name in ("intent", "agent", "scope", "duration")
        }
        missing = [name for name, value in values.items() if not value]
        if missing:
            self.query_one("#grant-hint", Label).update(f"Missing: {', '.join(missing)}")
            self.query_one(f"#grant-{missing[0]}", Input).focus()
            return
        seconds = parse_duration(values["duration"])
        if seconds is None:
            self.query_one("#grant-hint", Label).update(
                Text(f"Not a duration: {values['duration']!r}. {DURATION_HELP}")
            )
            self.query_one("#grant-duration", Input).focus()
            return
        self.dismiss(
            LeaseGrant(
                intent_id=values["intent"],
                agent_id=values["agent"],
                scope=values["scope"],
                duration_seconds=seconds,
            )
        )

    def action_cancel(self) -> None:
        self.dismiss(None)
