"""`:chains`: OAP chains on this server (spec/oap.md §8), newest first, filtered by status;
enter opens one (its hops with agent, attempts and duration, and the envelope checkpoint);
resume and cancel from either. Hop events keep both live."""

from __future__ import annotations

from typing import Any

import msgspec
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from backend.wire.events import Event
from backend.wire.oap import CHAIN_STATUSES, OapChain

from ..messages import ConnectionChanged, EventsReceived
from ..widgets.json_tree import JsonTree
from ..widgets.virtual_table import Column, Row, VirtualTable
from .base import UNAVAILABLE, ConsoleScreen
from .format import ago, short_id

CHAIN_STATUS_STYLES = {
    "running": "bold green",
    "queued": "green",
    "completed": "blue",
    "hop_limit": "yellow",
    "failed": "bold red",
    "cancelled": "dim italic",
    "interrupted": "bold magenta",
}
FILTERS: tuple[str | None, ...] = (None, *CHAIN_STATUSES)
RESUMABLE = frozenset({"hop_limit", "failed", "interrupted"})
FINISHED = frozenset({"completed", "cancelled"})


def chain_event(event: Event) -> str | None:
    """The chain an event is about (hop and chain events carry `oap` and `chain_id`)."""
    payload = event.payload
    if "oap" in payload and isinstance(payload.get("chain_id"), str):
        return payload["chain_id"]
    return None


class ChainActions(ConsoleScreen):
    """Resume and cancel, shared by the list and the detail."""

    MUTATING_ACTIONS = frozenset({"resume", "cancel"})

    def selected_chain(self) -> OapChain | None:
        raise NotImplementedError

    def after_change(self) -> None:
        self.reload()

    def action_resume(self) -> None:
        chain = self.selected_chain()
        if chain is None:
            return
        if chain.status not in RESUMABLE:
            self.notify(f"Chain is {chain.status}: only {', '.join(sorted(RESUMABLE))} resume")
            return
        self.resume(chain)

    @work(group="chain-mutate", exit_on_error=False)
    async def resume(self, chain: OapChain) -> None:
        done = await self.mutate(
            f"Resume chain {short_id(chain.chain_id)}",
            lambda: self.client.resume_chain(chain.chain_id),
            done=f"Resumed chain {short_id(chain.chain_id)} at hop {chain.hops_done + 1}",
        )
        if done is not None:
            self.after_change()

    def action_cancel(self) -> None:
        chain = self.selected_chain()
        if chain is None:
            return
        if chain.status in FINISHED:
            self.notify(f"Chain is already {chain.status}")
            return
        self.confirm_then(
            f"Cancel chain {short_id(chain.chain_id)} ({chain.status}, {chain.hops_done} hops)?"
            "\nA hop in flight is abandoned; a cancelled chain cannot be resumed.",
            "Cancel chain",
            lambda: self.cancel(chain),
        )

    @work(group="chain-mutate", exit_on_error=False)
    async def cancel(self, chain: OapChain) -> None:
        done = await self.mutate(
            f"Cancel chain {short_id(chain.chain_id)}",
            lambda: self.client.cancel_chain(chain.chain_id, "cancelled from the console"),
            done=f"Cancelled chain {short_id(chain.chain_id)}",
        )
        if done is not None:
            self.after_change()

    def action_open_intent(self) -> None:
        if (chain := self.selected_chain()) is not None:
            self.console.open_intent(chain.intent_id)


class ChainsScreen(ChainActions):
    crumb = "Chains"

    BINDINGS = [
        Binding("f", "next_filter", "Status filter", id="chains.filter"),
        Binding("e", "resume", "Resume", id="chains.resume"),
        Binding("x", "cancel", "Cancel", id="chains.cancel"),
        Binding("o", "open_intent", "Open intent", id="chains.open_intent"),
        Binding("r", "reload", "Reload", id="chains.reload"),
        Binding("y", "copy_id", "Copy id", show=False, id="chains.copy_id"),
    ]

    def __init__(self, status: str | None = None) -> None:
        super().__init__()
        self.status = status if status in CHAIN_STATUSES else None
        self.chains: dict[str, OapChain] = {}
        self.loaded = False

    def compose_body(self) -> ComposeResult:
        yield Static(id="counts")
        yield VirtualTable(
            [
                Column("status", "STATUS", 11),
                Column("chain", "CHAIN", 36),
                Column("intent", "INTENT", 12),
                Column("hops", "HOPS", 7),
                Column("next", "NEXT AGENT", 16),
                Column("error", "ERROR", 18),
                Column("updated", "UPDATED", 10, fmt=self._ago),
            ],
            empty_text="Loading chains…",
            status_styles=CHAIN_STATUS_STYLES,
            id="chains-table",
        )

    @property
    def table(self) -> VirtualTable:
        return self.query_one("#chains-table", VirtualTable)

    def _ago(self, value: Any) -> str:
        return ago(value, self.now())

    def on_mount(self) -> None:
        self.table.focus()
        self.reload()
        self.reload_when_dirty(0.5)

    def reload(self) -> None:
        self.load()

    @work(exclusive=True, group="chains-load", exit_on_error=False)
    async def load(self) -> None:
        client = await self.connected()
        if not client.capabilities.agent_routing:
            self.table.empty_text = f"Chains: {UNAVAILABLE}"
            self.table.set_rows([])
            self.loaded = True
            return
        try:
            chains = await client.list_chains(status=self.status)
        except Exception as exc:
            self.table.empty_text = f"Chains: {self.problem(exc)}"
            self.table.set_rows([])
            self.loaded = True
            return
        self.chains = {c.chain_id: c for c in chains}
        which = self.status or "any status"
        self.table.empty_text = f"No chains ({which}). Start one with `openintent-tui chain ID`."
        self.table.set_rows(self.row(c) for c in chains)
        self.query_one("#counts", Static).update(
            f" {len(chains)} chains · status: {which} (f cycles)"
        )
        self.loaded = True

    def row(self, chain: OapChain) -> Row:
        hops = f"{chain.hops_done}/{chain.stop_at_hop}"
        return Row(
            chain.chain_id,
            (chain.status, chain.chain_id, short_id(chain.intent_id), hops,
             chain.next_agent or "-", chain.error_kind or "", ""),
            (chain.status, chain.chain_id, chain.intent_id, chain.hops_done,
             chain.next_agent or "", chain.error_kind or "", chain.updated_at),
        )  # fmt: skip

    @on(EventsReceived)
    def on_events(self, message: EventsReceived) -> None:
        if any(chain_event(e) for e in message.events):
            self.dirty = True

    @on(ConnectionChanged)
    def on_connection(self, message: ConnectionChanged) -> None:
        self.table.stale = message.state != "live"

    @on(VirtualTable.Selected, "#chains-table")
    def on_selected(self) -> None:
        self.action_open_chain()

    def selected_chain(self) -> OapChain | None:
        key = self.table.cursor_key
        chain = self.chains.get(key) if key else None
        if chain is None:
            self.notify("No chain selected", severity="warning")
        return chain

    def action_next_filter(self) -> None:
        self.status = FILTERS[(FILTERS.index(self.status) + 1) % len(FILTERS)]
        self.load()

    def action_open_chain(self) -> None:
        if (chain := self.selected_chain()) is not None:
            self.app.push_screen(ChainDetailScreen(chain.chain_id))

    def action_copy_id(self) -> None:
        self.copy_id(self.table.cursor_key)


class ChainDetailScreen(ChainActions):
    """One chain: where it stands, its hops, and the envelope checkpoint."""

    BINDINGS = [
        Binding("e", "resume", "Resume", id="chain.resume"),
        Binding("x", "cancel", "Cancel", id="chain.cancel"),
        Binding("o", "open_intent", "Open intent", id="chain.open_intent"),
        Binding("v", "focus_envelope", "Envelope", id="chain.envelope"),
        Binding("r", "reload", "Reload", id="chain.reload"),
    ]

    def __init__(self, chain_id: str) -> None:
        super().__init__()
        self.chain_id = chain_id
        self.chain: OapChain | None = None
        self.crumb = f"Chain {short_id(chain_id)}"
        self.loaded = False

    def compose_body(self) -> ComposeResult:
        with Vertical():
            yield Static("Loading…", id="chain-meta", classes="panel")
            yield VirtualTable(
                [
                    Column("hop", "HOP", 5),
                    Column("agent", "AGENT", 18),
                    Column("by", "SELECTED BY", 12),
                    Column("status", "STATUS", 8),
                    Column("attempts", "ATTEMPTS", 9),
                    Column("ms", "MS", 9),
                    Column("error", "ERROR", 30),
                ],
                empty_text="No hops yet.",
                status_styles={"ok": "green", "failed": "bold red", "pending": "yellow"},
                id="hops-table",
            )
            envelope = JsonTree("envelope", id="envelope")
            envelope.border_title = "envelope (checkpoint)"
            yield envelope

    @property
    def hops(self) -> VirtualTable:
        return self.query_one("#hops-table", VirtualTable)

    def on_mount(self) -> None:
        self.hops.focus()
        self.reload()
        self.reload_when_dirty(0.5)

    def reload(self) -> None:
        self.load()

    @work(exclusive=True, group="chain-load", exit_on_error=False)
    async def load(self) -> None:
        client = await self.connected()
        try:
            chain = await client.get_chain(self.chain_id)
        except Exception as exc:
            self.query_one("#chain-meta", Static).update(
                Text(f"Cannot load chain {self.chain_id}: {self.problem(exc)}", style="bold red")
            )
            return
        self.chain = chain
        self.query_one("#chain-meta", Static).update(self._meta(chain))
        self.hops.set_rows(
            Row(
                str(h.hop),
                (
                    str(h.hop),
                    h.agent_id,
                    h.selected_by,
                    h.status,
                    str(h.attempts),
                    "-" if h.duration_ms is None else f"{h.duration_ms:.1f}",
                    h.error or "",
                ),
                (
                    h.hop,
                    h.agent_id,
                    h.selected_by,
                    h.status,
                    h.attempts,
                    h.duration_ms or 0.0,
                    h.error or "",
                ),
            )
            for h in chain.hops or []
        )
        if chain.envelope is not None:
            self.query_one(JsonTree).show(msgspec.to_builtins(chain.envelope))
        self.loaded = True

    def _meta(self, chain: OapChain) -> Text:
        text = Text()
        text.append(f"{chain.status}", style=CHAIN_STATUS_STYLES.get(chain.status, ""))
        text.append(f"  chain {chain.chain_id} on intent {chain.intent_id}\n")
        mode = (
            f"pipeline {', '.join(chain.pipeline or [])}" if chain.mode == "pipeline" else "handoff"
        )
        text.append(
            f"{mode} · {chain.hops_done} hops (this run stops after {chain.stop_at_hop})"
            f" · next: {chain.next_agent or '-'}"
        )
        if chain.error:
            text.append(f"\n{chain.error_kind}: {chain.error}", style="red")
        return text

    @on(EventsReceived)
    def on_events(self, message: EventsReceived) -> None:
        if any(chain_event(e) == self.chain_id for e in message.events):
            self.dirty = True

    def selected_chain(self) -> OapChain | None:
        if self.chain is None:
            self.notify("The chain is not loaded yet", severity="warning")
        return self.chain

    def action_focus_envelope(self) -> None:
        self.query_one(JsonTree).focus()
