"""The `/` filter: filters live as you type; enter keeps it, esc clears it."""

from __future__ import annotations

from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input


class FilterLine(Input):
    BINDINGS = [Binding("escape", "clear_filter", "Clear filter", show=False)]

    DEFAULT_CSS = """
    FilterLine {
        display: none;
        height: 3;
        border: tall $secondary;
    }
    FilterLine.-open {
        display: block;
    }
    """

    class Applied(Message):
        def __init__(self, text: str, done: bool) -> None:
            super().__init__()
            self.text = text
            self.done = done

    def __init__(self, **kwargs) -> None:
        super().__init__(placeholder="filter: text in any column (esc clears)", **kwargs)

    def open(self) -> None:
        self.add_class("-open")
        self.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Applied(event.value, done=False))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not self.value:
            self.remove_class("-open")
        self.post_message(self.Applied(self.value, done=True))

    def action_clear_filter(self) -> None:
        self.value = ""
        self.remove_class("-open")
        self.post_message(self.Applied("", done=True))
