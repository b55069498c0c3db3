"""One figure with its sparkline over the last minutes (the overview's cards)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static


class PulseCard(Vertical):
    DEFAULT_CSS = """
    PulseCard {
        height: 4;
        width: 1fr;
        padding: 0 1;
        border: round $panel-lighten-2;
        border-title-color: $text-accent;
    }
    PulseCard > Static {
        height: 1;
    }
    PulseCard > Sparkline {
        height: 1;
        margin: 0;
    }
    """

    def __init__(self, title: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.border_title = title
        self.figure = ""

    def compose(self) -> ComposeResult:
        yield Static(classes="figure")
        yield Sparkline([0], summary_function=max)

    def show(self, figure: str | Text, data: Sequence[float]) -> None:
        self.figure = figure.plain if isinstance(figure, Text) else figure
        self.query_one(Static).update(figure)
        self.query_one(Sparkline).data = list(data) or [0]
