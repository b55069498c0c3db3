"""The arbitration queue (oldest first) and one case: pick an option by number, give a
rationale, record the decision as the operator. Keyboard only."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from backend.wire.governance import Arbitration

from ..messages import EventsReceived
from ..modals.text_prompt import rationale_prompt
from ..widgets.json_tree import JsonTree
from ..widgets.virtual_table import Column, Row, VirtualTable
from .base import UNAVAILABLE, ConsoleScreen
from .format import ago, short_id

ARB_EVENTS = frozenset({"arbitration_requested", "decision_recorded"})


def option_notes(arbitration: Arbitration) -> list[str]:
    """Each option's own rationale, when the requester gave one ("" otherwise)."""
    return [option.rationale for option in arbitration.options]


def option_labels(arbitration: Arbitration) -> list[str]:
    """Options from the request, else from `context.options` (how other servers send them:
    user JSON, so strings or objects)."""
    if arbitration.options:
        return [option.label for option in arbitration.options]
    labels = []
    for option in list(arbitration.context.get("options") or []):
        if isinstance(option, dict):
            labels.append(str(option.get("label") or option.get("id") or option))
        else:
            labels.append(str(option))
    return labels


class ArbitrationScreen(ConsoleScreen):
    crumb = "Arbitration"

    BINDINGS = [
        Binding("r", "reload", "Reload", id="arb.reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.cases: dict[str, Arbitration] = {}
        self.titles: dict[str, str] = {}
        self.loaded = False

    def compose_body(self) -> ComposeResult:
        yield Static(id="counts")
        yield VirtualTable(
            [
                Column("age", "WAITING", 12, fmt=self._ago),
                Column("intent", "INTENT", 20, flex=True),
                Column("requester", "REQUESTED BY", 14, priority=2),
                Column("options", "OPTIONS", 7, priority=3),
                Column("reason", "REASON", 20, flex=True),
            ],
            empty_text="Loading the arbitration queue…",
            id="arb-table",
        )

    @property
    def table(self) -> VirtualTable:
        return self.query_one("#arb-table", VirtualTable)

    def _ago(self, value: Any) -> str:
        return ago(value, self.now())

    def on_mount(self) -> None:
        self.table.focus()
        self.table.sort_by("age")  # oldest first
        self.load()
        self.set_interval(1.0, self.table.refresh)
        self.reload_when_dirty(0.5)

    def reload(self) -> None:
        self.load()

    @work(exclusive=True, group="arb-load", exit_on_error=False)
    async def load(self) -> None:
        client = await self.connected()
        if not client.capabilities.arbitration_queue:
            self._cannot_list(UNAVAILABLE)
            return
        try:
            cases = await client.list_arbitrations(status="pending")
        except Exception as exc:
            self._cannot_list(self.problem(exc))
            return
        cases = [c for c in cases if c.status == "pending"]
        for intent_id in {c.intent_id for c in cases} - set(self.titles):
            try:
                self.titles[intent_id] = (await client.get_intent(intent_id)).title
            except Exception:
                self.titles[intent_id] = short_id(intent_id)
        self.cases = {c.id: c for c in cases}
        self.table.empty_text = "The queue is empty: nothing waits for a decision."
        self.table.set_rows(self.row(c) for c in cases)
        self.loaded = True
        oldest = min((c.created_at for c in cases), default=None)
        text = Text(f" {len(cases)} pending", style="bold")
        if oldest:
            text.append(f"   oldest waiting {ago(oldest, self.now())}", style="yellow")
        self.query_one("#counts", Static).update(text)

    def _cannot_list(self, problem: str) -> None:
        self.table.empty_text = f"Arbitration queue: {problem}"
        self.table.set_rows([])
        self.loaded = True

    def row(self, case: Arbitration) -> Row:
        title = self.titles.get(case.intent_id, short_id(case.intent_id))
        labels = option_labels(case)
        return Row(
            case.id,
            ("", title, case.requester_id or "-", str(len(labels)), case.reason),
            (case.created_at, title.lower(), case.requester_id, len(labels), case.reason),
        )

    @on(EventsReceived)
    def on_events(self, message: EventsReceived) -> None:
        if any(e.event_type in ARB_EVENTS for e in message.events):
            self.dirty = True

    @on(VirtualTable.Selected, "#arb-table")
    def open_case(self, message: VirtualTable.Selected) -> None:
        case = self.cases.get(message.key)
        if case is not None:
            self.app.push_screen(
                CaseScreen(case, self.titles.get(case.intent_id, "")), self._case_closed
            )

    def _case_closed(self, decided: bool | None) -> None:
        if decided:
            self.load()

    def describe_target(self) -> tuple[str, object, str | None] | None:
        case = self.cases.get(self.table.cursor_key or "")
        return ("arbitration", case, case.id) if case is not None else None


class CaseScreen(ConsoleScreen):
    """One arbitration. `1`-`9` pick, `w` writes the rationale, `d` records the decision."""

    BINDINGS = [
        *(
            Binding(str(n), f"pick({n})", f"Option {n}", show=False, id=f"case.pick_{n}")
            for n in range(1, 10)
        ),
        Binding("w", "rationale", "Rationale", id="case.rationale"),
        Binding("d", "decide", "Record decision", id="case.decide"),
        Binding("o", "open_intent", "Open intent", id="case.open_intent"),
    ]
    # Picking only marks an option on screen, so it stays available (and keeps `1`-`9` from
    # falling through to the app's view keys); recording is what read-only mode removes.
    MUTATING_ACTIONS = frozenset({"rationale", "decide"})

    def __init__(self, case: Arbitration, title: str = "") -> None:
        super().__init__()
        self.case = case
        self.title_text = title
        self.options = option_labels(case)
        self.picked: int | None = None
        self.rationale = ""
        self.crumb = f"Case {short_id(case.id)}"
        self.decided = False
        self.context_tree = JsonTree("context", id="case-context")

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="case-body"):
            yield Static(self._header(), id="case-header")
            yield Static("Options", classes="section-title")
            with Vertical(id="options"):
                if not self.options:
                    yield Static("No options were offered.", classes="unavailable")
                notes = option_notes(self.case)
                for n, label in enumerate(self.options, 1):
                    note = notes[n - 1] if n <= len(notes) else ""
                    text = Text(f" {n}  {label}")
                    if note:
                        text.append(f"   {note}", style="dim")
                    yield Static(text, classes="option", id=f"option-{n}")
            yield Static(self._rationale_text(), id="case-rationale")
            yield Static("Context", classes="section-title")
            yield self.context_tree

    def on_mount(self) -> None:
        # Held, not queried: in one CI run a key burst reached on_mount with no JsonTree
        # in the DOM (cause not found), and the failed query ended the whole console.
        self.context_tree.show(self.case.context or {})

    def _header(self) -> Text:
        case = self.case
        text = Text()
        text.append(case.reason + "\n", style="bold")
        text.append(f"intent   {self.title_text or case.intent_id}  ({case.intent_id})\n")
        text.append(f"by       {case.requester_id}   {ago(case.created_at, self.now())}\n")
        if self.console.read_only:
            text.append("read-only: decisions are disabled", style="bold red")
        else:
            text.append(
                "1-9 pick an option · w write rationale · d record decision · esc back",
                style="dim",
            )
        return text

    def _rationale_text(self) -> Text:
        text = Text("Rationale: ", style="bold")
        text.append(
            self.rationale or "(none yet: d asks for one)", style="" if self.rationale else "dim"
        )
        return text

    def action_pick(self, number: int) -> None:
        if number > len(self.options):
            self.notify(f"There is no option {number}", severity="warning")
            return
        self.picked = number
        for n in range(1, len(self.options) + 1):
            self.query_one(f"#option-{n}", Static).set_class(n == number, "-picked")

    def action_rationale(self) -> None:
        label = self.options[self.picked - 1] if self.picked else "this case"
        self.app.push_screen(rationale_prompt(label), self._rationale_given)

    def _rationale_given(self, text: str | None, then_decide: bool = False) -> None:
        if text:
            self.rationale = text
            self.query_one("#case-rationale", Static).update(self._rationale_text())
            if then_decide:
                self.record()

    def action_decide(self) -> None:
        if self.picked is None:
            self.notify("Pick an option first (1-9)", severity="warning")
            return
        if not self.rationale:
            label = self.options[self.picked - 1]
            self.app.push_screen(
                rationale_prompt(label), lambda text: self._rationale_given(text, True)
            )
            return
        self.record()

    def action_open_intent(self) -> None:
        self.console.open_intent(self.case.intent_id)

    def record(self) -> None:
        self.console.key_gate.hold()  # keys typed from now belong to the queue it returns to
        self._record()

    @work(group="case-decide", exit_on_error=False)
    async def _record(self) -> None:
        try:
            assert self.picked is not None
            outcome = self.options[self.picked - 1]
            result = await self.mutate(
                "Record decision",
                lambda: self.client.record_decision(
                    self.case.intent_id,
                    decision_type="arbitration",
                    outcome=outcome,
                    rationale=self.rationale,
                    arbitration_id=self.case.id,
                ),
                done=f"Decision recorded: {outcome} (by {self.console.operator})",
            )
            if result is not None:
                self.decided = True
                self.dismiss(True)
        finally:
            self.console.key_gate.unhold()
