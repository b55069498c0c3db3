"""`:agents`: the server's OAP agent registry (spec/oap.md §8): status from the last ping,
capabilities; register by URL, ping one or all, remove. (Agents *assigned to an intent* are
on the intent detail, keys a/u; this is the registry chains route through.)"""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from backend.wire.oap import OapAgent

from ..messages import ConnectionChanged
from ..modals.text_prompt import TextPrompt
from ..widgets.filter_line import FilterLine
from ..widgets.virtual_table import Column, Row, VirtualTable
from .base import UNAVAILABLE, ConsoleScreen
from .format import ago

AGENT_STATUS_STYLES = {"alive": "bold green", "dead": "bold red", "no_health": "yellow"}


class OapAgentsScreen(ConsoleScreen):
    crumb = "Agents (OAP)"

    BINDINGS = [
        Binding("slash", "filter", "Filter", id="oap_agents.filter"),
        Binding("n", "register", "Register", id="oap_agents.register"),
        Binding("p", "ping", "Ping", id="oap_agents.ping"),
        Binding("P", "ping_all", "Ping all", id="oap_agents.ping_all"),
        Binding("x", "remove", "Remove", id="oap_agents.remove"),
        Binding("r", "reload", "Reload", id="oap_agents.reload"),
        Binding("y", "copy_id", "Copy id", show=False, id="oap_agents.copy_id"),
    ]
    MUTATING_ACTIONS = frozenset({"register", "remove"})

    def __init__(self) -> None:
        super().__init__()
        self.agents: dict[str, OapAgent] = {}
        self.loaded = False

    def compose_body(self) -> ComposeResult:
        yield FilterLine(id="filter")
        yield Static(id="counts")
        yield VirtualTable(
            [
                Column("status", "STATUS", 10),
                Column("agent", "AGENT", 20),
                Column("ms", "PING MS", 8),
                Column("caps", "CAPABILITIES", 30),
                Column("url", "URL", 34),
                Column("pinged", "PINGED", 10, fmt=self._ago),
            ],
            empty_text="Loading agents…",
            status_styles=AGENT_STATUS_STYLES,
            id="oap-agents-table",
        )

    @property
    def table(self) -> VirtualTable:
        return self.query_one("#oap-agents-table", VirtualTable)

    def _ago(self, value: Any) -> str:
        return ago(value, self.now()) if value else "never"

    def on_mount(self) -> None:
        self.table.focus()
        self.reload()

    def reload(self) -> None:
        self.load()

    @work(exclusive=True, group="oap-agents-load", exit_on_error=False)
    async def load(self) -> None:
        client = await self.connected()
        if not client.capabilities.agent_routing:
            self.table.empty_text = f"Agent routing: {UNAVAILABLE}"
            self.table.set_rows([])
            self.loaded = True
            return
        try:
            agents = await client.list_oap_agents()
        except Exception as exc:
            self.table.empty_text = f"Agents: {self.problem(exc)}"
            self.table.set_rows([])
            self.loaded = True
            return
        self.agents = {a.agent_id: a for a in agents}
        self.table.empty_text = "No agents registered: n registers one by URL."
        self.table.set_rows(self.row(a) for a in agents)
        alive = sum(1 for a in agents if a.last_status == "alive")
        self.query_one("#counts", Static).update(f" {len(agents)} agents, {alive} alive")
        self.loaded = True

    def row(self, agent: OapAgent) -> Row:
        status = agent.last_status or "unpinged"
        ms = "-" if agent.last_ping_ms is None else f"{agent.last_ping_ms:.1f}"
        caps = ", ".join(agent.capabilities)
        return Row(
            agent.agent_id,
            (status, agent.agent_id, ms, caps, agent.url, ""),
            (status, agent.agent_id, agent.last_ping_ms or 0.0, caps, agent.url,
             agent.last_ping_at or ""),
        )  # fmt: skip

    @on(ConnectionChanged)
    def on_connection(self, message: ConnectionChanged) -> None:
        self.table.stale = message.state != "live"

    # ---- actions -------------------------------------------------------------------------

    def action_filter(self) -> None:
        self.query_one(FilterLine).open()

    @on(FilterLine.Applied)
    def on_filter(self, message: FilterLine.Applied) -> None:
        self.table.set_filter(message.text)
        if message.done:
            self.table.focus()

    def _current(self) -> OapAgent | None:
        key = self.table.cursor_key
        agent = self.agents.get(key) if key else None
        if agent is None:
            self.notify("No agent selected", severity="warning")
        return agent

    def action_copy_id(self) -> None:
        self.copy_id(self.table.cursor_key)

    def action_register(self) -> None:
        def url_given(url: str | None) -> None:
            if not url:
                return

            def caps_given(caps: str | None) -> None:
                if caps is not None:  # esc on the second question cancels too
                    self.register(url, caps)

            self.app.push_screen(
                TextPrompt(
                    "Capabilities, if its GET / names none (comma separated)",
                    placeholder="research, search",
                    required=False,
                ),
                caps_given,
            )

        self.app.push_screen(
            TextPrompt("Register an OAP agent: its base URL", placeholder="http://host:9000"),
            url_given,
        )

    @work(group="oap-agents-mutate", exit_on_error=False)
    async def register(self, url: str, caps: str) -> None:
        capabilities = [c.strip() for c in caps.split(",") if c.strip()] or None
        agent = await self.mutate(
            f"Register {url}",
            lambda: self.client.register_oap_agent(url, capabilities=capabilities),
            available=self.client.capabilities.agent_routing,
        )
        if agent is not None:
            self.notify(f"Registered {agent.agent_id}: {', '.join(agent.capabilities)}")
            self.load()

    def action_ping(self) -> None:
        if (agent := self._current()) is not None:
            self.ping([agent.agent_id])

    def action_ping_all(self) -> None:
        self.ping(None)

    @work(group="oap-agents-ping", exit_on_error=False)
    async def ping(self, agent_ids: list[str] | None) -> None:
        """A ping changes only what the server knows about the agent: allowed read-only."""
        try:
            if agent_ids is None:
                results = await self.client.ping_oap_agents()
            else:
                results = [await self.client.ping_oap_agent(agent_ids[0])]
        except Exception as exc:
            self.notify_error(exc, "Ping")
            return
        summary = ", ".join(f"{r.agent_id} {r.status}" for r in results) or "no agents"
        dead = any(r.status == "dead" for r in results)
        self.notify(f"Ping: {summary}", severity="warning" if dead else "information")
        self.load()

    def action_remove(self) -> None:
        if (agent := self._current()) is None:
            return
        self.confirm_then(
            f"Remove agent {agent.agent_id} from the registry?\nChains that hand off to it"
            " will fail (resumable) until it is registered again.",
            "Remove",
            lambda: self.remove_agent(agent.agent_id),
        )

    @work(group="oap-agents-mutate", exit_on_error=False)
    async def remove_agent(self, agent_id: str) -> None:
        await self.mutate(
            f"Remove agent {agent_id}",
            lambda: self.client.remove_oap_agent(agent_id),
            done=f"Removed {agent_id}",
        )
        self.load()
