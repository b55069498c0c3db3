"""Send an intent to a peer: after the peer is picked, the agent (one of its public agents, or
none), the permissions delegated and a budget. Returns a `DispatchForm` or None."""

from __future__ import annotations

import msgspec
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Label

from backend.wire.federation import DelegationScope

DEFAULT_PERMISSIONS = ", ".join(DelegationScope().permissions)


class DispatchForm(msgspec.Struct, frozen=True):
    target_server: str
    agent_id: str | None
    permissions: list[str]
    cost_ceiling_usd: float | None


def parse_permissions(text: str) -> list[str]:
    return [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]


class DispatchModal(ModalScreen[DispatchForm | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dispatch.cancel")]

    def __init__(self, intent_title: str, target_server: str, agents: list[str]) -> None:
        super().__init__()
        self.intent_title = intent_title
        self.target_server = target_server
        self.agents = agents

    def compose(self) -> ComposeResult:
        known = ", ".join(self.agents) if self.agents else "none known"
        with Vertical(classes="dialog"):
            yield Label(f"Send {self.intent_title} to {self.target_server}", classes="question")
            yield Label(f"public agents: {known}", classes="hint")
            yield Label("agent")
            yield Input(
                self.agents[0] if len(self.agents) == 1 else "",
                placeholder="agent id on the peer (empty: none)",
                suggester=SuggestFromList(self.agents, case_sensitive=False),
                id="dispatch-agent",
            )
            yield Label("permissions delegated")
            yield Input(
                DEFAULT_PERMISSIONS, placeholder="permissions, comma-separated", id="dispatch-perms"
            )
            yield Label("budget")
            yield Input(placeholder="cost ceiling in USD (empty: none)", id="dispatch-budget")
            yield Label(
                "tab = next field · enter = review and send · esc = cancel",
                classes="hint",
                id="dispatch-hint",
            )

    def on_mount(self) -> None:
        self.query_one("#dispatch-agent", Input).focus()

    def _hint(self, text: str) -> None:
        self.query_one("#dispatch-hint", Label).update(text)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        agent = self.query_one("#dispatch-agent", Input).value.strip()
        permissions = parse_permissions(self.query_one("#dispatch-perms", Input).value)
        budget_text = self.query_one("#dispatch-budget", Input).value.strip()
        if agent and (any(c.isspace() for c in agent) or "/" in agent):
            self._hint(f"Not an agent id: {agent!r} (no spaces or /)")
            return
        budget: float | None = None
        if budget_text:
            try:
                budget = float(budget_text)
            except ValueError:
                budget = -1.0
            if not budget > 0:
                self._hint("The budget must be a positive number of USD")
                self.query_one("#dispatch-budget", Input).focus()
                return
        self.dismiss(
            DispatchForm(
                target_server=self.target_server,
                agent_id=agent or None,
                permissions=permissions,
                cost_ceiling_usd=budget,
            )
        )

    def action_cancel(self) -> None:
        self.dismiss(None)
