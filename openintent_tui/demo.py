"""`openintent-tui --demo`: a realistic workspace and simulated agents that keep it moving.

Everything goes through the public client, so the demo also works against any server; a
feature the server lacks (`Unavailable`) is skipped.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable
from typing import Any, TypeVar

import msgspec

from backend.waiting import wait_event

from .client import ClientError, ConflictError, ConnectionLost, OpenIntentClient, Unavailable

T = TypeVar("T")

AGENTS = ("planner", "coder-1", "coder-2", "reviewer", "ops-bot")


class DemoWorkspace(msgspec.Struct):
    intents: dict[str, str] = msgspec.field(default_factory=dict)
    """Short key -> intent id."""
    portfolios: dict[str, str] = msgspec.field(default_factory=dict)
    skipped: list[str] = msgspec.field(default_factory=list)
    """Features the server does not offer."""


async def _optional(workspace: DemoWorkspace, feature: str, call: Awaitable[T]) -> T | None:
    try:
        return await call
    except Unavailable:
        if feature not in workspace.skipped:
            workspace.skipped.append(feature)
        return None


# key, title, status, parent key, state, constraints
INTENTS: list[tuple[str, str, str, str | None, dict[str, Any], dict[str, Any]]] = [
    (
        "launch",
        "Launch checkout v2",
        "active",
        None,
        {"phase": "build", "progress": 40, "owner": "planner"},
        {"budget": {"max_total_cents": 50_000, "alert_threshold_percent": 80}},
    ),
    (
        "schema",
        "Migrate payments schema",
        "active",
        "launch",
        {"db": {"migrated_tables": 3, "total_tables": 8}, "progress": 37},
        {"deadline": "2026-12-01"},
    ),
    ("cart", "Refactor cart service", "active", "launch", {"code": {"files_changed": 12}}, {}),
    ("loadtest", "Load test checkout at 5k rps", "blocked", "launch", {"target_rps": 5000}, {}),
    ("notes", "Write release notes", "completed", "launch", {"doc": "RELEASE.md"}, {}),
    ("security", "Security review of payment flow", "draft", "launch", {}, {}),
    ("rollback", "Prepare rollback plan", "suspended_awaiting_input", "launch", {}, {}),
    (
        "etl",
        "Nightly ETL to the warehouse",
        "active",
        None,
        {"last_run": "failed", "rows": 1_204_332},
        {"budget": {"max_total": 2_000_000, "unit": "tokens"}},
    ),
    ("dedupe", "Deduplicate customer records", "active", None, {"candidates": 5120}, {}),
    ("vectordb", "Choose a vector database", "active", None, {"shortlist": 3}, {}),
    ("backfill", "Backfill analytics events", "abandoned", None, {}, {}),
    ("rotate", "Rotate API credentials", "completed", None, {"rotated": 14}, {}),
    ("docs", "Refresh the onboarding docs", "active", None, {"pages": 9, "progress": 60}, {}),
    ("alerts", "Tune paging alerts", "active", None, {"noisy_alerts": 7}, {}),
]

TICKETS = [
    ("Triage ticket #1042: refund stuck", "completed"),
    ("Triage ticket #1043: login loop on Safari", "active"),
    ("Triage ticket #1044: CSV export timeout", "active"),
    ("Triage ticket #1045: wrong VAT on invoices", "blocked"),
    ("Triage ticket #1046: webhook retries", "draft"),
    ("Triage ticket #1047: slow search", "active"),
    ("Triage ticket #1048: duplicate emails", "completed"),
    ("Triage ticket #1049: dark mode contrast", "abandoned"),
]

PATHS_TO = {
    "completed": ["active", "completed"],
    "abandoned": ["abandoned"],
    "blocked": ["active", "blocked"],
    "suspended_awaiting_input": ["active", "suspended_awaiting_input"],
    "active": ["active"],
    "draft": [],
}


async def _move_to(client: OpenIntentClient, intent_id: str, version: int, status: str) -> None:
    for step in PATHS_TO[status]:
        reason = "waiting for the staging environment" if step == "blocked" else None
        intent = await client.set_status(intent_id, version, step, reason=reason)
        version = intent.version


async def seed(client: OpenIntentClient) -> DemoWorkspace:
    """Create the demo workspace; returns the ids it made."""
    ws = DemoWorkspace()
    for key, title, status, parent, state, constraints in INTENTS:
        fields: dict[str, Any] = {"state": state, "constraints": constraints}
        if parent:
            fields["parent_intent_id"] = ws.intents[parent]
        intent = await client.create_intent(title, description=f"Demo: {title.lower()}", **fields)
        ws.intents[key] = intent.id
        await _move_to(client, intent.id, intent.version, status)
    for number, (title, status) in enumerate(TICKETS):
        intent = await client.create_intent(title, state={"priority": 1 + number % 3})
        ws.intents[f"ticket{number}"] = intent.id
        await _move_to(client, intent.id, intent.version, status)

    ids = ws.intents
    for key, agents in (
        ("launch", ["planner"]),
        ("schema", ["coder-1", "reviewer"]),
        ("cart", ["coder-2"]),
        ("etl", ["ops-bot"]),
        ("dedupe", ["coder-1"]),
        ("vectordb", ["planner", "reviewer"]),
        ("docs", ["reviewer"]),
    ):
        for agent in agents:
            await _optional(ws, "agents", client.assign_agent(ids[key], agent))

    for key, event_type, payload in (
        ("launch", "comment", {"text": "Kick-off done; schema and cart work in parallel."}),
        ("schema", "tool_call_started", {"tool": "alembic", "args": "upgrade head"}),
        ("schema", "tool_call_completed", {"tool": "alembic", "duration_ms": 8421}),
        ("etl", "tool_call_failed", {"tool": "spark-submit", "error": "executor lost"}),
        ("cart", "llm_request_completed", {"model": "gpt-x", "tokens": 1820}),
    ):
        await client.log_event(ids[key], event_type, payload)

    await _seed_portfolios(client, ws)
    await _seed_coordination(client, ws)
    await _seed_costs_and_failures(client, ws)
    await _optional(
        ws,
        "attachments",
        client.add_attachment(
            ids["launch"],
            "rollout.md",
            content=b"# Rollout\n1. 5% canary\n2. 50%\n3. 100%\n",
            mime_type="text/markdown",
        ),
    )
    return ws


async def _seed_portfolios(client: OpenIntentClient, ws: DemoWorkspace) -> None:
    ids = ws.intents
    for key, name, description, members in (
        (
            "checkout",
            "Checkout v2",
            "Everything that ships with the new checkout",
            ["launch", "schema", "cart", "loadtest", "notes", "security", "rollback"],
        ),
        ("data", "Q4 data platform", "Warehouse and data quality", ["etl", "dedupe", "backfill"]),
        ("support", "Support rotation", "This week's tickets", [f"ticket{i}" for i in range(8)]),
    ):
        portfolio = await _optional(ws, "portfolios", client.create_portfolio(name, description))
        if portfolio is None:
            return
        ws.portfolios[key] = portfolio.id
        for position, member in enumerate(members):
            role = "primary" if position == 0 else "member"
            await client.add_to_portfolio(portfolio.id, ids[member], role=role, priority=position)


async def _seed_coordination(client: OpenIntentClient, ws: DemoWorkspace) -> None:
    ids = ws.intents
    for key, scope, agent, seconds in (
        ("schema", "db", "coder-1", 3600),
        ("cart", "code", "coder-2", 1800),
        ("etl", "pipeline", "ops-bot", 900),
        ("docs", "pages", "reviewer", 600),
    ):
        await _optional(ws, "leases", client.acquire_lease(ids[key], scope, seconds, agent))
    for key, reason, options, context in (
        (
            "dedupe",
            "Two agents propose different merge rules for customer records",
            [
                {"label": "Merge on email", "rationale": "simple, 98% precision"},
                {"label": "Merge on email + phone", "rationale": "99.7% precision, slower"},
                {"label": "Manual review queue", "rationale": "no false merges"},
            ],
            {"candidates": 5120, "proposed_by": ["coder-1", "reviewer"]},
        ),
        (
            "vectordb",
            "Pick the vector database for semantic search",
            [
                {"label": "pgvector", "rationale": "already run Postgres"},
                {"label": "Qdrant", "rationale": "faster filtered search"},
            ],
            {"benchmark_p95_ms": {"pgvector": 41, "qdrant": 18}},
        ),
        (
            "loadtest",
            "Staging is shared: pause other deploys for the load test?",
            [{"label": "Pause deploys for 2 h"}, {"label": "Run at night instead"}],
            {"requested_window": "14:00-16:00 UTC"},
        ),
    ):
        await _optional(
            ws, "arbitration", client.request_arbitration(ids[key], reason, options, context)
        )
    await _optional(
        ws,
        "decisions",
        client.record_decision(
            ids["rotate"], "approval", "rotate all", "keys older than 90 days", evidence=[]
        ),
    )


async def _seed_costs_and_failures(client: OpenIntentClient, ws: DemoWorkspace) -> None:
    ids = ws.intents
    for key, cost_type, amount, unit, agent in (
        ("launch", "llm", 12_400, "cents", "planner"),
        ("launch", "compute", 29_800, "cents", "ops-bot"),
        ("cart", "llm", 1_850, "cents", "coder-2"),
        ("etl", "tokens", 1_650_000, "tokens", "ops-bot"),
        ("dedupe", "compute", 740, "cents", "coder-1"),
    ):
        await _optional(
            ws, "costs", client.record_cost(ids[key], cost_type, amount, unit, agent_id=agent)
        )
    policy = await _optional(
        ws,
        "retries",
        client.set_retry_policy(
            ids["etl"],
            strategy="exponential",
            max_retries=4,
            base_delay_ms=30_000,
            fallback_agent_id="coder-1",
            failure_threshold=3,
        ),
    )
    if policy is not None:
        for attempt, (code, message) in enumerate(
            (("EXECUTOR_LOST", "spark executor lost"), ("TIMEOUT", "warehouse load timed out")),
            start=1,
        ):
            await client.record_failure(
                ids["etl"],
                agent_id="ops-bot",
                attempt_number=attempt,
                error_code=code,
                error_message=message,
            )


# -- simulated agents ----------------------------------------------------------------------


class _Agents:
    """One client per agent (each acts under its own X-Agent-ID) and the leases they hold."""

    def __init__(self, client: OpenIntentClient, rng: random.Random) -> None:
        self.rng = rng
        self.clients = {
            name: OpenIntentClient(client.base_url, client.api_key, agent_id=name)
            for name in AGENTS
        }
        self.operator = client
        self.held: list[tuple[str, str, str]] = []  # (agent, intent_id, lease_id)
        self.active: list[str] = []

    async def refresh(self) -> None:
        try:
            page = await self.operator.list_intents(status="active", limit=200)
            self.active = [intent.id for intent in page.intents]
        except ClientError:
            pass  # keep the last list: the server may be down or unable to list

    async def act(self) -> None:
        if not self.active:
            return
        rng = self.rng
        agent = rng.choice(AGENTS)
        oi = self.clients[agent]
        intent_id = rng.choice(self.active)
        roll = rng.random()
        if roll < 0.35:
            intent = await oi.get_intent(intent_id)
            progress = min(100, int(intent.state.get("progress", 0) or 0) + rng.randint(1, 5))
            patch = {"op": "set", "path": "/progress", "value": progress}
            await oi.patch_state(intent_id, intent.version, [patch])
        elif roll < 0.6:
            tool = rng.choice(("git", "pytest", "psql", "terraform", "web-search"))
            await oi.log_event(intent_id, "tool_call_started", {"tool": tool})
            await oi.log_event(
                intent_id,
                "tool_call_completed",
                {"tool": tool, "duration_ms": rng.randint(80, 9000)},
            )
        elif roll < 0.7:
            await oi.log_event(
                intent_id,
                "llm_request_completed",
                {"model": "gpt-x", "tokens": rng.randint(200, 4000)},
            )
        elif roll < 0.82:
            await self._lease_step(agent, intent_id)
        elif roll < 0.92:
            await oi.record_cost(intent_id, "llm", rng.randint(5, 120), "cents")
        elif roll < 0.97:
            await oi.log_event(intent_id, "comment", {"text": rng.choice(_REMARKS)})
        else:
            pending = await self.operator.list_arbitrations()
            if len(pending) < 6:
                await oi.request_arbitration(
                    intent_id,
                    rng.choice(_DILEMMAS),
                    [{"label": "Proceed"}, {"label": "Wait for review"}, {"label": "Abort"}],
                    {"raised_by": agent},
                )

    async def _lease_step(self, agent: str, intent_id: str) -> None:
        if self.held and (len(self.held) > 3 or self.rng.random() < 0.5):
            holder, held_intent, lease_id = self.held.pop(0)
            await self.clients[holder].release_lease(held_intent, lease_id)
            return
        scope = self.rng.choice(("notes", "tests", "config", "report"))
        lease = await self.clients[agent].acquire_lease(intent_id, scope, 120)
        self.held.append((agent, intent_id, lease.id))

    async def aclose(self) -> None:
        for holder, intent_id, lease_id in self.held:
            try:
                await self.clients[holder].release_lease(intent_id, lease_id)
            except ClientError:
                pass
        for oi in self.clients.values():
            await oi.aclose()


_REMARKS = (
    "Looks good to me.",
    "Blocked on a flaky test; retrying.",
    "Handing this over after lunch.",
    "Found the root cause in the cache layer.",
)
_DILEMMAS = (
    "Tests pass but coverage dropped 4%: merge anyway?",
    "Two agents edited the same config key",
    "Budget alert reached: continue the run?",
)


async def run_agents(
    client: OpenIntentClient,
    stop_event: asyncio.Event,
    *,
    interval: float = 0.4,
    seed_value: int | None = None,
    max_actions: int | None = None,
) -> int:
    """Keep producing live activity (patches, events, leases, costs, the odd arbitration)
    until `stop_event` is set or `max_actions` ran; returns how many actions succeeded.
    Errors never stop it: conflicts are normal with several agents, and the server may be
    restarting."""
    agents = _Agents(client, random.Random(seed_value))
    done = 0
    attempts = 0
    try:
        await agents.refresh()
        while not stop_event.is_set() and (max_actions is None or done < max_actions):
            attempts += 1
            if attempts % 25 == 0:
                await agents.refresh()
            try:
                await agents.act()
                done += 1
            except (ConflictError, Unavailable):
                pass  # someone else moved first, or the server lacks the feature
            except ConnectionLost:
                await _wait(stop_event, 2.0)
            except ClientError:
                pass
            if interval:
                await _wait(stop_event, interval * (0.5 + agents.rng.random()))
    finally:
        await agents.aclose()
    return done


async def _wait(stop_event: asyncio.Event, seconds: float) -> None:
    await wait_event(stop_event, seconds)
