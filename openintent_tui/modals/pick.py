"""Pick one of a few choices: a next status, an agent to unassign. Returns its value or None.

Arrows or j/k move, enter picks; a digit picks that row at once; esc or q cancels.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

MAX_DIGIT = 9


class Choice(msgspec.Struct, frozen=True):
    """One row: `value` is what the picker returns; `note` is a dim remark after the label."""

    value: str
    label: str = ""
    note: str = ""
    style: str = ""


class PickModal(ModalScreen[str | None]):
    BINDINGS = [
        Binding("escape,q", "cancel", "Cancel", id="pick.cancel"),
        Binding("j", "down", "Down", show=False, id="pick.down"),
        Binding("k", "up", "Up", show=False, id="pick.up"),
        # Modal bindings come before the app's, so digits pick here instead of switching view.
        *(
            Binding(str(n), f"pick_number({n})", f"Pick {n}", show=False)
            for n in range(1, MAX_DIGIT + 1)
        ),
    ]

    def __init__(self, title: str, choices: Sequence[Choice], *, hint: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.choices = list(choices)
        self.hint = hint

    @property
    def values(self) -> list[str]:
        return [choice.value for choice in self.choices]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog pick"):
            yield Label(self.title_text, classes="question")
            yield OptionList(
                *(self._option(n, choice) for n, choice in enumerate(self.choices, 1)),
                id="pick-options",
            )
            keys = "1-9 or enter = pick · esc = cancel"
            yield Label(f"{self.hint}\n{keys}" if self.hint else keys, classes="hint")

    @staticmethod
    def _option(number: int, choice: Choice) -> Option:
        prompt = Text(no_wrap=True)
        prompt.append(f"{number} " if number <= MAX_DIGIT else "  ", style="bold")
        prompt.append(choice.label or choice.value, style=choice.style)
        if choice.note:
            prompt.append(f"  {choice.note}", style="dim")
        return Option(prompt, id=choice.value)

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = 0
        options.focus()

    @on(OptionList.OptionSelected)
    def picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option_id)

    def action_pick_number(self, number: int) -> None:
        if number <= len(self.choices):
            self.dismiss(self.choices[number - 1].value)
        else:
            self.notify(f"There is no choice {number}", severity="warning")

    def action_down(self) -> None:
        self.query_one(OptionList).action_cursor_down()

    def action_up(self) -> None:
        self.query_one(OptionList).action_cursor_up()

    def action_cancel(self) -> None:
        self.dismiss(None)
