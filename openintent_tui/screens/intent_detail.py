"""One intent: state tree, metadata, agents, leases, decisions, attachments, costs, failures,
and its live event tail."""

from __future__ import annotations

import asyncio
from typing import Any

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.widgets import Static

from backend.wire.attachments import Attachment
from backend.wire.costs import CostList
from backend.wire.governance import Arbitration, Decision
from backend.wire.intents import AgentAssignment, Intent
from backend.wire.leases import Lease
from backend.wire.oap import OapChain
from backend.wire.retries import Failure, RetryPolicy

from ..client.errors import ClientError
from ..messages import EventsReceived
from ..modals.lease_grant import LeaseGrant, LeaseGrantModal
from ..modals.pick import Choice, PickModal
from ..modals.text_prompt import TextPrompt
from ..widgets.event_tail import EventTail
from ..widgets.json_tree import JsonTree
from .base import optional, optional_read, unavailable
from .chains import CHAIN_STATUS_STYLES
from .format import STATUS_STYLES, ago, short_id, until
from .intent_federation import IntentFederation
from .lifecycle import IntentActionsScreen, quoted
from .send_to_peer import SendsToPeers

TAIL_BACKFILL_PAGES = 10
TAIL_PAGE = 1000
SECTIONS = ("agents", "leases", "decisions", "attachments", "costs", "failures", "chains")
RELATED_SHOWN = 12
"""Children and dependencies listed on the screen; `x` (the graph) shows them all."""


class IntentDetailScreen(IntentActionsScreen, SendsToPeers):
    BINDINGS = [
        Binding("r", "reload", "Reload", id="detail.reload"),
        Binding("c", "change_status", "Status", id="detail.status"),
        Binding("a", "assign", "Assign", id="detail.assign"),
        Binding("u", "unassign", "Unassign", id="detail.unassign"),
        Binding("n", "grant", "Grant", id="detail.grant"),
        Binding("t", "focus_tail", "Events", id="detail.tail"),
        Binding("s", "focus_state", "State tree", id="detail.state"),
        Binding("x", "graph", "Graph", id="detail.graph"),
        Binding("e,enter", "events", "Full events", id="detail.events"),
        Binding("y", "copy_id", "Copy id", show=False, id="detail.copy_id"),
        Binding("D", "dispatch", "To peer", id="detail.dispatch"),
    ]
    MUTATING_ACTIONS = frozenset({"grant", "change_status", "assign", "unassign", "dispatch"})

    def __init__(self, intent_id: str) -> None:
        super().__init__()
        self.intent_id = intent_id
        self.intent: Intent | None = None
        self.crumb = f"Intent {short_id(intent_id)}"
        self.sections: dict[str, Any] = {}
        self.related: dict[str, list[Intent]] = {}
        """Parent, dependencies and children as last loaded."""
        self.loaded = asyncio.Event()
        self.load_failed = False
        self.own_stream_state: str | None = None
        """This intent's own stream, followed only where the server has no global one."""
        self.federation = IntentFederation()

    def compose_body(self) -> ComposeResult:
        with Horizontal():
            with VerticalScroll(id="detail-left"):
                yield Static("Loading…", id="meta", classes="panel")
                yield Static("Related", classes="section-title")
                yield Static("…", id="sec-related", classes="panel")
                yield Static("Pending arbitrations", classes="section-title")
                yield Static("…", id="sec-arbitrations", classes="panel")
                for section in SECTIONS:
                    yield Static(section.capitalize(), classes="section-title")
                    yield Static("…", id=f"sec-{section}", classes="panel")
                # Shown only on a server that federates (`_show_federation`).
                yield Static("Federation", id="fed-title", classes="section-title")
                yield Static("…", id="sec-federation", classes="panel")
            with Vertical(id="detail-right"):
                yield JsonTree("state", id="state")
                tail = EventTail(id="tail")
                tail.border_title = "events"
                yield tail

    @property
    def ready_for_keys(self) -> bool:
        return self.loaded.is_set() or self.load_failed

    def on_mount(self) -> None:
        for widget_id in ("#fed-title", "#sec-federation"):
            self.query_one(widget_id).display = False
        self.query_one(EventTail).focus()
        self.reload()
        self.load_tail()
        self.reload_when_dirty(1.0)

    def reload(self) -> None:
        self.load_detail()

    def action_focus_tail(self) -> None:
        self.query_one(EventTail).focus()

    def action_focus_state(self) -> None:
        self.query_one(JsonTree).focus()

    # ---- loading -------------------------------------------------------------------------

    @work(exclusive=True, group="detail-load", exit_on_error=False)
    async def load_detail(self) -> None:
        client = await self.connected()
        try:
            intent = await client.get_intent(self.intent_id)
        except Exception as exc:
            message = exc.message if isinstance(exc, ClientError) else str(exc)
            self.query_one("#meta", Static).update(
                Text(f"Cannot load intent {self.intent_id}: {message}", style="bold red")
            )
            self.load_failed = True
            return
        self.intent = intent
        self.set_crumb(f"Intent: {intent.title[:30]}")
        self.query_one("#meta", Static).update(self._meta(intent))
        self.query_one(JsonTree).show(intent.state)
        i = self.intent_id
        retry_read = asyncio.ensure_future(optional_read(lambda: client.get_retry_policy(i)))
        arbitrations_read = asyncio.ensure_future(
            optional_read(lambda: client.intent_arbitrations(i, status="pending"))
        )
        try:
            fetched = await asyncio.gather(
                optional_read(lambda: client.list_agents(i)),
                optional_read(lambda: client.intent_leases(i)),
                optional_read(lambda: client.list_decisions(i)),
                optional_read(lambda: client.list_attachments(i)),
                optional_read(lambda: client.get_costs(i)),
                optional_read(lambda: client.list_failures(i)),
                optional_read(lambda: client.list_chains(intent_id=i))
                if client.capabilities.agent_routing
                else unavailable(),
            )
            retry = await retry_read
        except BaseException:  # a newer load replaced this one: nor are its other reads
            retry_read.cancel()
            arbitrations_read.cancel()
            raise
        agents, leases, decisions, attachments, costs, failures, chains = fetched
        self.sections = dict(zip((*SECTIONS, "retry"), (*fetched, retry), strict=True))
        self._show("agents", agents, self._agents)
        self._show("leases", leases, self._leases)
        self._show("decisions", decisions, self._decisions)
        self._show("attachments", attachments, self._attachments)
        self._show("costs", costs, self._costs)
        self._show("failures", failures, lambda v: self._failures(v, retry))
        self._show("chains", chains, self._chains)
        arbitrations = await arbitrations_read
        self.sections["arbitrations"] = arbitrations
        self._show("arbitrations", arbitrations, self._arbitrations)
        try:
            await self._show_related(intent)
        except Exception as exc:  # an odd answer from some server: say so, keep the rest
            self.query_one("#sec-related", Static).update(
                Text(f"cannot show: {self.problem(exc)}", style="italic yellow")
            )
        await self._show_federation()
        self.loaded.set()

    def _show(self, section: str, fetched: tuple[Any, str | None], render: Any) -> None:
        value, problem = fetched
        widget = self.query_one(f"#sec-{section}", Static)
        if problem is not None and section != "failures":
            widget.update(Text(problem, style="italic yellow"))
            return
        try:
            widget.update(render(value if problem is None else None))
        except Exception as exc:  # an odd shape from some server: show it, don't crash
            widget.update(Text(f"cannot show: {exc}", style="italic yellow"))

    def _meta(self, intent: Intent) -> Table:
        now = self.now()
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        table.add_row("title", Text(intent.title, style="bold"))
        table.add_row("id", intent.id)
        table.add_row("status", Text(intent.status, style=STATUS_STYLES.get(intent.status, "")))
        table.add_row("version", str(intent.version))
        table.add_row("created by", intent.created_by or "-")
        table.add_row("created", f"{intent.created_at[:19]}  ({ago(intent.created_at, now)})")
        table.add_row("updated", f"{intent.updated_at[:19]}  ({ago(intent.updated_at, now)})")
        if intent.description:
            table.add_row("description", intent.description)
        if intent.constraints:
            table.add_row(
                "constraints", ", ".join(f"{k}={v}" for k, v in intent.constraints.items())
            )
        return table

    async def _show_related(self, intent: Intent) -> None:
        """Parent, dependencies and children by title, each a link that opens it."""
        client = self.client
        parent = None
        if intent.parent_intent_id:
            parent, _ = await optional(client.get_intent(intent.parent_intent_id))
        dependencies, _ = await optional(client.dependencies(intent.id))
        if dependencies is None:
            dependencies = []
        children, children_problem = await optional(client.children(intent.id))
        self.related = {
            "parent": [parent] if parent is not None else [],
            "depends on": dependencies,
            "children": children or [],
        }
        lines = []
        if intent.parent_intent_id:
            lines.append("[b]parent[/b]      " + self._link(parent, intent.parent_intent_id))
        known = {dep.id for dep in dependencies}
        missing = [dep_id for dep_id in intent.depends_on if dep_id not in known]
        deps = [self._link(dep, dep.id) for dep in dependencies[:RELATED_SHOWN]]
        deps += [self._link(None, dep_id) for dep_id in missing]
        if deps:
            lines.append("[b]depends on[/b]  " + ", ".join(deps))
        if children:
            shown = ", ".join(self._link(c, c.id) for c in children[:RELATED_SHOWN])
            more = len(children) - RELATED_SHOWN
            extra = f" [dim]… {more} more (x)[/dim]" if more > 0 else ""
            lines.append(f"[b]children[/b]    {shown}{extra}")
        elif children_problem:
            lines.append(f"[b]children[/b]    [i]{escape(children_problem)}[/i]")
        if not lines:
            lines.append("[dim]no parent, children or dependencies[/dim]")
        else:
            lines.append("[dim]click one to open it; x shows them as a tree[/dim]")
        self.query_one("#sec-related", Static).update("\n".join(lines))

    @staticmethod
    def _link(intent: Intent | None, intent_id: str) -> str:
        """Content markup: the title and short id, clicking opens that intent."""
        label = f"{escape(intent.title)} " if intent is not None else ""
        action = f"screen.open_related('{intent_id}')"
        return f"[@click={action}]{label}[dim]{short_id(intent_id)}[/dim][/]"

    def action_open_related(self, intent_id: str) -> None:
        self.console.open_intent(intent_id)

    def _arbitrations(self, cases: list[Arbitration] | None) -> Text:
        pending = [case for case in cases or [] if case.status == "pending"]
        if not pending:
            return Text("none pending", style="dim")
        now = self.now()
        text = Text()
        for case in pending:
            text.append(f"waiting {ago(case.created_at, now)}  ", style="yellow")
            text.append(case.reason, style="bold")
            labels = [option.label for option in case.options]
            if labels:
                text.append(f"  ({' / '.join(labels)})", style="dim")
            text.append("\n")
        text.append("3 opens the arbitration queue", style="dim")
        return text

    def action_graph(self) -> None:
        from .graph import GraphScreen

        self.app.push_screen(GraphScreen(self.intent_id))

    def action_events(self) -> None:
        """This intent's events with their full payloads (the tail cuts them)."""
        from .events import EventFilter, EventsScreen

        self.app.push_screen(EventsScreen(EventFilter(intent=self.intent_id)))

    def action_copy_id(self) -> None:
        self.copy_id(self.intent_id)

    def describe_target(self) -> tuple[str, object, str | None] | None:
        if self.intent is None:
            return None
        return ("intent", self.intent, self.intent.id)

    def _agents(self, agents: list[AgentAssignment] | None) -> Text:
        if not agents:
            return Text("none assigned", style="dim")
        return Text("\n".join(f"{a.agent_id}  ({a.role})" for a in agents))

    def _leases(self, value: list[Lease] | None) -> Text:
        leases = [x for x in value or [] if x.status == "active"]
        if not leases:
            return Text("no active leases", style="dim")
        now = self.now()
        return Text(
            "\n".join(
                f"{lease.scope:<16} {lease.agent_id:<14} expires {until(lease.expires_at, now)}"
                for lease in leases
            )
        )

    def _decisions(self, decisions: list[Decision] | None) -> Text:
        if not decisions:
            return Text("no decisions", style="dim")
        return Text(
            "\n".join(
                f"{d.created_at[:19]} {d.decision_maker_id}: {d.outcome}"
                + (f" — {d.reasoning}" if d.reasoning else "")
                for d in decisions[-10:]
            )
        )

    def _attachments(self, attachments: list[Attachment] | None) -> Text:
        if not attachments:
            return Text("no attachments", style="dim")
        return Text("\n".join(f"{a.filename}  {a.mime_type}  {a.size} B" for a in attachments))

    def _costs(self, value: CostList | None) -> Text:
        summary = value.summary if value is not None else None
        if summary is None or not summary.count:
            return Text("no costs recorded", style="dim")
        text = Text()
        for unit, amount in sorted(summary.by_unit.items()):
            text.append(f"{amount:g} {unit}  ")
        records = "record" if summary.count == 1 else "records"
        text.append(f"({summary.count} {records})", style="dim")
        budget = summary.budget
        if budget is not None:
            text.append("\n")
            fraction = min(budget.spent / budget.limit, 1.0) if budget.limit else 1.0
            filled = round(fraction * 20)
            style = "red" if budget.exceeded else "yellow" if budget.alerted else "green"
            text.append("budget [", style="bold")
            text.append("■" * filled + "·" * (20 - filled), style=style)
            text.append(f"] {budget.spent:g}/{budget.limit:g} {budget.unit}")
            if budget.exceeded:
                text.append("  EXCEEDED", style="bold red")
        return text

    def _failures(
        self, failures: list[Failure] | None, retry: tuple[RetryPolicy | None, str | None]
    ) -> Text:
        text = Text()
        if failures:
            for f in failures[-5:]:
                text.append(
                    f"#{f.attempt_number} {f.error_code or 'error'}: {f.error_message or ''}\n",
                    style="red",
                )
        else:
            text.append("no failures\n", style="dim")
        policy, problem = retry
        if policy is not None:
            text.append(
                f"retry: {policy.strategy}, max {policy.max_retries}, "
                f"base {policy.base_delay_ms} ms, max {policy.max_delay_ms} ms"
            )
        else:
            text.append(f"retry policy: {problem or 'none set'}", style="dim")
        return text

    def _chains(self, chains: list[OapChain] | None) -> Text:
        """OAP chains on this intent, newest first (`:chains` has their hops)."""
        text = Text()
        for chain in (chains or [])[:5]:
            text.append(f"{chain.status:<11}", style=CHAIN_STATUS_STYLES.get(chain.status, ""))
            text.append(f" {short_id(chain.chain_id)} {chain.hops_done} hops")
            if chain.next_agent and chain.status != "completed":
                text.append(f" · next {chain.next_agent}")
            if chain.error_kind:
                text.append(f" · {chain.error_kind}", style="red")
            text.append("\n")
        if not chains:
            text.append("no chains", style="dim")
        return text

    @work(exclusive=True, group="detail-tail", exit_on_error=False)
    async def load_tail(self) -> None:
        tail = self.query_one(EventTail)
        cursor = 0
        for _ in range(TAIL_BACKFILL_PAGES):
            try:
                client = await self.connected()
                page = await client.list_events(self.intent_id, TAIL_PAGE, cursor)
            except Exception as exc:
                message = exc.message if isinstance(exc, ClientError) else exc
                tail.add_text(f"event log unavailable: {message}")
                return
            tail.add_events(page.events)
            if self.federation.add(page.events):
                self.dirty = True  # re-read the dispatch records it names
            if page.next_cursor is None or not page.events:
                return
            cursor = page.next_cursor

    # ---- live -----------------------------------------------------------------------------

    @on(EventsReceived)
    def on_events(self, message: EventsReceived) -> None:
        mine = [e for e in message.events if e.intent_id == self.intent_id]
        if mine:
            self.query_one(EventTail).add_events(mine)
            self.federation.add(mine)
            self.dirty = True

    async def _show_federation(self) -> None:
        """Where it went or came from, and its callbacks (`intent_federation`)."""
        if not self.client.capabilities.federation:
            return
        for dispatch_id in self.federation.dispatch_ids:
            try:
                self.federation.records[dispatch_id] = await self.client.get_dispatch(dispatch_id)
            except Exception:
                pass  # shown without its record's status
        for widget_id in ("#fed-title", "#sec-federation"):
            self.query_one(widget_id).display = True
        self.query_one("#sec-federation", Static).update(self.federation.render())

    def action_dispatch(self) -> None:
        self.send_to_peer(self._loaded_intent())

    def resync(self) -> None:
        self.reload()
        self.load_tail()  # the tail de-duplicates by id, so this only fills the gap

    def action_grant(self) -> None:
        self.app.push_screen(LeaseGrantModal(self.intent_id), self._granted)

    def _granted(self, grant: LeaseGrant | None) -> None:
        if grant is not None:
            self.grant_lease(grant)

    @work(group="detail-mutate", exit_on_error=False)
    async def grant_lease(self, grant: LeaseGrant) -> None:
        if await self.request_grant(grant) is not None:
            self.reload()

    # ---- status and agents ----------------------------------------------------------------

    def _loaded_intent(self) -> Intent | None:
        if self.intent is None:
            self.notify("The intent is not loaded (yet)", severity="warning")
        return self.intent

    def action_change_status(self) -> None:
        if (intent := self._loaded_intent()) is not None:
            self.change_status(intent)

    def intent_changed(self, intent_id: str, fresh: Intent | None = None) -> None:
        if fresh is not None:  # a quick second `c` must not send the old version
            self.intent = fresh
            self.query_one("#meta", Static).update(self._meta(fresh))
        self.reload()

    def assigned(self) -> list[tuple[str, str]]:
        """(agent id, role) of every assigned agent, as last loaded."""
        value, problem = self.sections.get("agents", (None, "not loaded"))
        if problem is None:
            return [(a.agent_id, a.role) for a in value or []]
        return [(agent_id, "") for agent_id in (self.intent.agents if self.intent else [])]

    def action_assign(self) -> None:
        if (intent := self._loaded_intent()) is None:
            return
        prompt = TextPrompt(
            f"Assign an agent to {quoted(intent.title)}",
            placeholder="agent id (assigned as a worker; recorded as done by you)",
        )
        self.app.push_screen(prompt, self._assign_answered)

    def _assign_answered(self, agent_id: str | None) -> None:
        if not agent_id:
            return
        if any(c.isspace() for c in agent_id) or "/" in agent_id:
            self.notify(f"Not an agent id: {agent_id!r} (no spaces or /)", severity="warning")
        elif agent_id in dict(self.assigned()):
            self.notify(f"{agent_id} is already assigned", severity="warning")
        else:
            self.assign(agent_id)

    @work(group="detail-mutate", exit_on_error=False)
    async def assign(self, agent_id: str) -> None:
        title = quoted(self.intent.title if self.intent is not None else self.intent_id)
        await self.mutate(
            f"Assign {agent_id} to {title}",
            lambda: self.client.assign_agent(self.intent_id, agent_id),
            done=f"Assigned {agent_id} to {title}",
        )
        self.reload()

    def action_unassign(self) -> None:
        if (intent := self._loaded_intent()) is None:
            return
        agents = self.assigned()
        if not agents:
            self.notify(f"No agent is assigned to {quoted(intent.title)}", severity="warning")
        elif len(agents) == 1:
            self._confirm_unassign(agents[0][0])
        else:
            picker = PickModal(
                f"Unassign which agent from {quoted(intent.title)}?",
                [Choice(agent_id, note=role) for agent_id, role in agents],
            )
            self.app.push_screen(picker, self._confirm_unassign)

    def _confirm_unassign(self, agent_id: str | None) -> None:
        if agent_id is not None and self.intent is not None:
            self.confirm_then(
                f"Unassign {agent_id} from {quoted(self.intent.title)}?",
                "Unassign",
                lambda: self.unassign(agent_id),
            )

    @work(group="detail-mutate", exit_on_error=False)
    async def unassign(self, agent_id: str) -> None:
        title = quoted(self.intent.title if self.intent is not None else self.intent_id)
        await self.mutate(
            f"Unassign {agent_id} from {title}",
            lambda: self.client.unassign_agent(self.intent_id, agent_id),
            done=f"Unassigned {agent_id} from {title}",
            available=self.client.capabilities.unassign_agents,
        )
        self.reload()
