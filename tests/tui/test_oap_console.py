"""`:agents` and `:chains` in the console against a real server and real loopback agents:
register, ping and remove by keyboard; a chain's hops, envelope, resume and cancel; the
intent detail lists its chains and hop events arrive in its tail. A console test, so on
SQLite whatever OPENINTENT_TEST_STORES says (tests/tui/conftest.py; OAP on PostgreSQL is
tests/oap's)."""

from __future__ import annotations

import httpx

from openintent_tui.modals.confirm import ConfirmModal
from openintent_tui.modals.text_prompt import TextPrompt
from openintent_tui.screens.chains import ChainDetailScreen, ChainsScreen
from openintent_tui.screens.oap_agents import OapAgentsScreen
from openintent_tui.widgets.event_tail import EventTail
from tests.oap.agents import Agent, finish, handoff_to, running, wait_until
from tests.support import LiveServer
from tests.tui.test_status import SIZE, footer_keys, open_detail, toasts
from tests.tui.tui_support import make_app
from tests.tui.tui_support import wait_until as wait_in_app


def tail_text(tail: EventTail) -> str:
    return "\n".join(text for text, _ in tail.lines)


def events_logged(api: httpx.Client) -> list[dict]:
    return api.get("/api/v1/events", params={"limit": 50}).json()["events"]


def chain_status(api: httpx.Client, chain_id: str) -> str:
    return api.get(f"/api/v1/oap/chains/{chain_id}").json()["status"]


def looping_chain(api: httpx.Client, looper: Agent) -> tuple[str, dict]:
    """An intent whose chain stopped at its hop limit (2) with looper handing to itself."""
    api.post("/api/v1/oap/agents", json={"url": looper.url}).raise_for_status()
    intent_id = api.post("/api/v1/intents", json={"title": "loop job"}).json()["id"]
    limited = api.post(
        f"/api/v1/intents/{intent_id}/oap/chains", json={"max_hops": 2, "wait": True}
    ).json()
    return intent_id, limited


def registered(api: httpx.Client) -> dict[str, dict]:
    return {a["agent_id"]: a for a in api.get("/api/v1/oap/agents").json()["agents"]}


async def test_agents_register_ping_remove_by_keyboard(server: LiveServer, api: httpx.Client):
    helper = Agent("helper", ["help"], finish("ok"))
    with running(helper):
        app = make_app(server)
        async with app.run_test(size=SIZE) as pilot:
            await wait_in_app(pilot, lambda: app.screen.loaded and app.connection_state == "live")
            app.run_verb("agents")
            await wait_in_app(pilot, lambda: isinstance(app.screen, OapAgentsScreen))
            screen = app.screen
            await wait_in_app(pilot, lambda: screen.loaded, what="agents loaded")
            await wait_in_app(
                pilot,
                lambda: {"Register", "Ping", "Ping all", "Remove"} <= set(footer_keys(screen)),
                what="the agent keys in the footer",
            )
            assert "No agents registered" in screen.table.empty_text

            await pilot.press("n")
            await wait_in_app(pilot, lambda: isinstance(app.screen, TextPrompt))
            await pilot.press(*helper.url, "enter")
            await wait_in_app(pilot, lambda: isinstance(app.screen, TextPrompt))
            await pilot.press("enter")  # no fallback capabilities: GET / names them
            await wait_in_app(pilot, lambda: "helper" in screen.agents, what="registered")
            assert registered(api)["helper"]["capabilities"] == ["help"]
            assert screen.table.get_row("helper").cells[1] == "helper"

            await pilot.press("p")
            await wait_in_app(pilot, lambda: screen.agents["helper"].last_status == "alive")
            assert any("helper alive" in t for t in toasts(app))

            await pilot.press("x")
            await wait_in_app(pilot, lambda: isinstance(app.screen, ConfirmModal))
            await pilot.press("y")
            await wait_in_app(pilot, lambda: not screen.agents, what="removed")
            assert registered(api) == {}
    log = events_logged(api)
    assert [(e["event_type"], e["actor"]) for e in log if "oap" in e["payload"]] == [
        ("agent.registered", "alice"),
        ("agent.status_changed", "alice"),
    ]


async def test_chains_detail_resume_cancel_and_intent_detail(server: LiveServer, api: httpx.Client):
    looper = Agent("looper", ["loop"], handoff_to("looper", "again"))
    with running(looper):
        intent_id, limited = looping_chain(api, looper)
        chain_id = limited["chain_id"]
        assert limited["status"] == "hop_limit"

        app = make_app(server)
        async with app.run_test(size=SIZE) as pilot:
            detail = await open_detail(app, pilot, intent_id)
            chains_text = str(detail.query_one("#sec-chains").render())
            assert "hop_limit" in chains_text and "2 hops" in chains_text

            app.run_verb("chains status=hop_limit")
            await wait_in_app(pilot, lambda: isinstance(app.screen, ChainsScreen))
            screen = app.screen
            await wait_in_app(pilot, lambda: screen.loaded, what="chains loaded")
            assert [r.key for r in screen.table.visible_rows] == [chain_id]
            await wait_in_app(
                pilot,
                lambda: {"Resume", "Cancel", "Status filter"} <= set(footer_keys(screen)),
                what="the chain keys in the footer",
            )

            await pilot.press("enter")
            await wait_in_app(pilot, lambda: isinstance(app.screen, ChainDetailScreen))
            assert sum(isinstance(s, ChainDetailScreen) for s in app.screen_stack) == 1
            chain_screen = app.screen
            await wait_in_app(pilot, lambda: chain_screen.loaded, what="chain loaded")
            hops = [r.cells[:5] for r in chain_screen.hops.visible_rows]
            assert hops == [
                ("1", "looper", "keyword", "ok", "1"),
                ("2", "looper", "handoff", "ok", "1"),
            ]
            envelope = chain_screen.query_one("#envelope")
            assert "steps_taken" in str([n.label for n in envelope.root.children])

            # Resume from the detail: two more hops (the chain's max_hops), live.
            await pilot.press("e")
            await wait_in_app(
                pilot, lambda: len(chain_screen.hops.visible_rows) == 4, limit=20, what="resumed"
            )
            wait_until(lambda: chain_status(api, chain_id) == "hop_limit", "the run to stop")
            await pilot.press("x")
            await wait_in_app(pilot, lambda: isinstance(app.screen, ConfirmModal))
            await pilot.press("y")
            await wait_in_app(
                pilot,
                lambda: chain_screen.chain is not None and chain_screen.chain.status == "cancelled",
                what="cancelled",
            )
            # The intent's own tail showed the hop events as they happened.
            await pilot.press("o")
            await wait_in_app(pilot, lambda: app.screen is not chain_screen)
            tail = app.screen.query_one(EventTail)
            await wait_in_app(
                pilot, lambda: "task.cancelled" in tail_text(tail), what="cancel in tail"
            )
            assert "task.delegated" in tail_text(tail)
    assert chain_status(api, chain_id) == "cancelled"
