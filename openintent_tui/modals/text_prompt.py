"""One line of text: a rationale, or the reason for a revoke. Enter submits, esc cancels."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class TextPrompt(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="prompt.cancel")]

    def __init__(self, title: str, *, placeholder: str = "", required: bool = True) -> None:
        super().__init__()
        self.title_text = title
        self.placeholder = placeholder
        self.required = required

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="question")
            yield Input(placeholder=self.placeholder, id="prompt-input")
            yield Label("enter = ok · esc = cancel", classes="hint", id="prompt-hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if self.required and not text:
            self.query_one("#prompt-hint", Label).update("A value is required (esc cancels)")
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)


def rationale_prompt(option: str) -> TextPrompt:
    return TextPrompt(
        f"Rationale for choosing “{option}”", placeholder="why this option (recorded)"
    )


def revoke_prompt(what: str) -> TextPrompt:
    return TextPrompt(f"Revoke {what}: reason", placeholder="reason (recorded in the log)")
