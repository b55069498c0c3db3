"""The k9s-style `:` line: an Input docked at the bottom, shown on `:` and gone on esc. The
verbs it runs, hints and completes are `verbs.VERBS`."""

from __future__ import annotations

from typing import Any

from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input

from ..verbs import placeholder


class CommandLine(Input):
    BINDINGS = [Binding("escape", "dismiss", "Close", show=False)]

    DEFAULT_CSS = """
    CommandLine {
        display: none;
        height: 3;
        border: tall $accent;
    }
    CommandLine.-open {
        display: block;
    }
    """

    class Run(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, prefix: str = ":", **kwargs: Any) -> None:
        super().__init__(placeholder=placeholder(prefix), **kwargs)
        self.prefix = prefix

    def open(self, initial: str = "") -> None:
        self.value = initial
        self.add_class("-open")
        self.screen.add_class("-command-open")  # lifts the toasts above this line
        self.focus()

    def action_dismiss(self) -> None:
        self.value = ""
        self.remove_class("-open")
        self.screen.remove_class("-command-open")
        self.screen.set_focus(None)
        self.screen.focus_next()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip().lstrip(":")
        self.action_dismiss()
        if text:
            self.post_message(self.Run(text))
