"""`--demo`'s second server: a federated peer ("the partner lab"), so that `:peers` and
`:dispatches` have life in them. The demo server sends it a few intents, the peer sends one
back, and the peer's agents work what they received: every change goes back to the demo
server as a signed callback, which the console shows live on the origin intent.

Everything goes through the public client, like `demo.py`.
"""

from __future__ import annotations

import asyncio
import random

from .client import ClientError, OpenIntentClient
from .demo import DemoWorkspace, _optional, _wait

PEER_AGENTS = ("analyst", "translator")
MAIN_AGENTS = ("ops-bot",)
SENT = (("dedupe", "analyst"), ("docs", "translator"), ("vectordb", "analyst"))
"""Demo intents (by key) the demo server sends to the peer at start, and for which agent."""
BUDGET_USD = 25.0


def federation_yaml(peer_url: str, peer_key_env: str, agents: tuple[str, ...]) -> str:
    """A server's federation block: it knows the other server (and holds its API key, so it
    sees its public agents), allowlists it, and offers `agents` publicly."""
    lines = [
        "federation:",
        "  trust_policy: allowlist",
        "  peers:",
        f'    - url: "{peer_url}"',
        f"      api_key_env: {peer_key_env}",
        "  agents:",
        *(f"    - {{agent_id: {a}, capabilities: [demo], visibility: public}}" for a in agents),
    ]
    return "\n".join(lines) + "\n"


async def seed_federation(
    main: OpenIntentClient, peer: OpenIntentClient, ws: DemoWorkspace
) -> None:
    """Send a few demo intents to the peer, and one from the peer to the demo server."""
    for key, agent in SENT:
        await _optional(
            ws,
            "federation",
            main.dispatch_intent(
                ws.intents[key], peer.base_url, agent_id=agent, cost_ceiling_usd=BUDGET_USD
            ),
        )
    audit = await peer.create_intent(
        "Audit vendor invoices for Q3",
        description="Partner lab: check the invoices the EU entity received",
        state={"invoices": 212, "progress": 0},
    )
    await _optional(
        ws, "federation", peer.dispatch_intent(audit.id, main.base_url, agent_id=MAIN_AGENTS[0])
    )


async def _work_one(peer: OpenIntentClient, rng: random.Random) -> None:
    """One of the peer's agents advances one intent it received; done at 100 %."""
    page = await peer.list_dispatches(direction="in", limit=50)
    received = [d.local_intent_id for d in page.dispatches if d.local_intent_id]
    if not received:
        return
    intent = await peer.get_intent(rng.choice(received))
    if intent.status != "active":
        return
    progress = min(100, int(intent.state.get("progress", 0) or 0) + rng.randint(5, 20))
    intent = await peer.patch_state(
        intent.id, intent.version, [{"op": "set", "path": "/progress", "value": progress}]
    )
    if progress >= 100:
        await peer.set_status(intent.id, intent.version, "completed")


async def _send_another(main: OpenIntentClient, peer: OpenIntentClient, rng: random.Random) -> None:
    """Now and then the demo server sends one more active intent to the peer."""
    sent = {d.intent_id for d in (await main.list_dispatches(direction="out")).dispatches}
    active = (await main.list_intents(status="active", limit=200)).intents
    fresh = [i for i in active if i.id not in sent]
    if fresh:
        intent = rng.choice(fresh)
        await main.dispatch_intent(
            intent.id, peer.base_url, agent_id=rng.choice(PEER_AGENTS), cost_ceiling_usd=10.0
        )


async def run_peer(
    main: OpenIntentClient,
    peer: OpenIntentClient,
    stop_event: asyncio.Event,
    *,
    interval: float = 2.0,
    seed_value: int | None = None,
) -> int:
    """Keep the federation moving until `stop_event`; returns how many steps succeeded.
    Errors never stop it (a server may be restarting)."""
    rng = random.Random(seed_value)
    done = 0
    steps = 0
    while not stop_event.is_set():
        steps += 1
        try:
            if steps % 15 == 0:
                await _send_another(main, peer, rng)
            else:
                await _work_one(peer, rng)
            done += 1
        except ClientError:
            pass  # someone else moved first, or a server is down for a moment
        await _wait(stop_event, interval * (0.5 + rng.random()))
    return done
