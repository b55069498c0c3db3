"""Grant a lease: agent, scope and duration. Returns a `LeaseGrant` or None."""

from __future__ import annotations

import msgspec
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


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
            yield Input("300", placeholder="duration in seconds", id="grant-duration")
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
        if not values["duration"].isdigit() or int(values["duration"]) <= 0:
            self.query_one("#grant-hint", Label).update("Duration must be a positive integer")
            return
        self.dismiss(
            LeaseGrant(
                intent_id=values["intent"],
                agent_id=values["agent"],
                scope=values["scope"],
                duration_seconds=int(values["duration"]),
            )
        )

    def action_cancel(self) -> None:
        self.dismiss(None)
