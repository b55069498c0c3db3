"""The console's federation screens against two real federated servers on loopback: A (the
console's server) knows B, B allowlists A and offers a public agent."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from rich.console import Console

import backend.federation.peers as peer_monitor
import openintent_tui.screens.dispatches as dispatches_screen
import openintent_tui.screens.peers as peers_screen
from backend.federation.peers import fingerprint
from backend.wire.federation import PeerView
from openintent_tui.client import NotFoundError, Unavailable, connect
from openintent_tui.modals.confirm import ConfirmModal
from openintent_tui.modals.dispatch import DispatchModal
from openintent_tui.modals.pick import PickModal
from openintent_tui.screens.dispatches import DispatchesScreen
from openintent_tui.screens.intent_detail import IntentDetailScreen
from openintent_tui.screens.peer_detail import PeerScreen
from openintent_tui.screens.peers import NOT_FEDERATED, PeersScreen, key_cell, short_key
from tests.federation.helpers import free_port, write_config
from tests.support import API_KEY, LiveServer, run_server
from tests.tui.tui_support import create_intent, make_app
from tests.tui.tui_support import wait_until as wait_until_within

wait_until = partial(wait_until_within, limit=20.0)  # two servers on a loaded machine

SIZE = (150, 40)


class Pair(msgspec.Struct):
    a: LiveServer
    b_port: int
    b_db: Path
    b_config: str
    stack: ExitStack

    @property
    def b_url(self) -> str:
        return f"http://127.0.0.1:{self.b_port}"

    def start_b(self) -> LiveServer:
        return self.stack.enter_context(run_b(self.b_db, self.b_port, self.b_config))


def run_b(db: Path, port: int, config: str):
    return run_server(db, port, federation_enabled=True, federation_config=config)


@pytest.fixture
def pair(tmp_path, monkeypatch) -> Iterator[Pair]:
    # The servers re-read their peers every 60 s; the test cannot wait that long. The
    # console re-reads the server's view every 3 s; lowered to match.
    monkeypatch.setattr(peer_monitor, "REFRESH_SECONDS", 0.3)
    monkeypatch.setattr(peers_screen, "REFRESH_SECONDS", 0.3)
    a_port, b_port = free_port(), free_port()
    a_config = write_config(
        tmp_path / "a.yaml",
        f"""\
        federation:
          peers:
            - url: "http://127.0.0.1:{b_port}"
              api_key: "{API_KEY}"
        """,
    )
    b_config = write_config(
        tmp_path / "b.yaml",
        f"""\
        federation:
          trust_policy: allowlist
          peers: ["http://127.0.0.1:{a_port}"]
          agents:
            - {{agent_id: analyst, capabilities: [analyze], visibility: public}}
        """,
    )
    with ExitStack() as stack:
        a = stack.enter_context(
            run_server(
                tmp_path / "a.db", a_port, federation_enabled=True, federation_config=a_config
            )
        )
        pair = Pair(a, b_port, tmp_path / "b.db", b_config, ExitStack())
        with pair.stack:
            pair.start_b()
            yield pair


def plain(widget: Any) -> str:
    """What a Static shows, as text (a rich Table included)."""
    console = Console(width=200, file=io.StringIO(), record=True)
    console.print(widget.content)
    return console.export_text()


def key_of(url: str) -> str:
    manifest = httpx.get(f"{url}/.well-known/openintent-federation.json", timeout=10).json()
    return short_key(fingerprint(manifest["public_key"]))


def reach_of(screen: PeersScreen, url: str) -> str | None:
    row = screen.table.get_row(url)
    return row.cells[0] if row is not None else None


async def test_peers_show_the_peer_key_and_follow_it_down_and_up(pair: Pair):
    b_key = key_of(pair.b_url)
    app = make_app(pair.a)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.screen.loaded and app.connection_state == "live")
        await pilot.press("7")
        await wait_until(pilot, lambda: isinstance(app.screen, PeersScreen))
        screen = app.screen
        assert isinstance(screen, PeersScreen)
        await wait_until(pilot, lambda: reach_of(screen, pair.b_url) == "up", what="B up")
        row = screen.table.get_row(pair.b_url)
        assert row is not None
        assert row.cells[4] == b_key  # B's key, read from B's manifest
        assert row.cells[5] == "yes" and row.cells[1].endswith("ms")
        assert row.cells[9] == "1"  # one public agent (A holds an API key for B)
        identity = plain(screen.query_one("#identity"))
        assert "did:web:127.0.0.1" in identity and key_of(pair.a.url) in identity

        pair.stack.close()  # B stops
        await wait_until(pilot, lambda: reach_of(screen, pair.b_url) == "down", what="B down")
        pair.start_b()  # and comes back on the same port, with the same identity
        await wait_until(pilot, lambda: reach_of(screen, pair.b_url) == "up", what="B back")
        assert screen.table.get_row(pair.b_url).cells[4] == b_key

        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, PeerScreen) and app.screen.loaded)
        detail = app.screen
        assert isinstance(detail, PeerScreen)
        await wait_until(pilot, lambda: detail.documents is not None, what="its documents")
        assert detail.documents is not None and detail.documents.problem is None
        assert detail.documents.manifest["server_did"] == f"did:web:127.0.0.1:{pair.b_port}"
        assert detail.documents.did_document["id"] == f"did:web:127.0.0.1:{pair.b_port}"
        assert "analyst" in plain(detail.query_one("#peer-summary"))


async def test_a_dispatch_from_the_keyboard_reaches_the_peer_and_its_callback_shows(pair: Pair):
    with pair.a.client() as api:
        intent_id = create_intent(api, "Forecast Q2", state={"region": "emea"})
    app = make_app(pair.a)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.screen.loaded and app.connection_state == "live")
        app.open_intent(intent_id)  # (`:open ID` typed key by key takes seconds)
        await wait_until(pilot, lambda: isinstance(app.screen, IntentDetailScreen))
        detail = app.screen
        assert isinstance(detail, IntentDetailScreen)
        await wait_until(pilot, detail.loaded.is_set)
        section = detail.query_one("#sec-federation")
        assert section.display and "not sent to a peer" in plain(section)

        await pilot.press("D")
        await wait_until(pilot, lambda: isinstance(app.screen, PickModal), what="peer picker")
        assert app.screen.values == [pair.b_url]
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DispatchModal), what="form")
        assert app.screen.query_one("#dispatch-agent").value == "analyst"  # its one agent
        await pilot.press("tab", "tab", *"2.5", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), what="confirm")
        assert "budget: 2.5 USD" in app.screen.question
        await pilot.press("y")

        # B made its own intent for analyst; its signed "accepted" callback reached A's intent.
        async with httpx.AsyncClient(base_url=pair.b_url, headers={"X-API-Key": API_KEY}) as b:
            received: list[dict[str, Any]] = []

            async def on_b() -> None:
                page = await b.get("/api/v1/federation/dispatches?direction=in")
                received[:] = page.json()["dispatches"]

            for _ in range(100):  # up to ~10 s
                await on_b()
                if received:
                    break
                await pilot.pause(0.1)
            assert received, "the dispatch never reached B"
            remote = (await b.get(f"/api/v1/intents/{received[0]['local_intent_id']}")).json()
        assert remote["title"] == "Forecast Q2" and remote["state"] == {"region": "emea"}
        await wait_until(
            pilot,
            lambda: "accepted" in plain(section) and "callbacks (" in plain(section),
            what="the callback on the origin intent",
        )
        assert pair.b_url in plain(section)

        await pilot.press("8")
        await wait_until(
            pilot, lambda: isinstance(app.screen, DispatchesScreen) and app.screen.loaded
        )
        dispatches = app.screen
        assert isinstance(dispatches, DispatchesScreen)
        (row,) = dispatches.table.visible_rows
        assert row.cells[0] == "accepted" and row.cells[4] == pair.b_url
        assert row.cells[5] == "Forecast Q2"
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, IntentDetailScreen))
        assert app.screen.intent_id == intent_id

        app.forced_read_only = True  # read-only: the key is hidden and does nothing
        assert not app.screen.check_action("dispatch", ())
        await pilot.press("D")
        await pilot.pause(0.1)
        assert isinstance(app.screen, IntentDetailScreen)


async def test_a_server_without_federation_says_so_in_one_line(server: LiveServer):
    with server.client() as api:
        intent_id = create_intent(api, "Local only")
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.screen.loaded and app.connection_state == "live")
        assert not app.client.capabilities.federation
        with pytest.raises(Unavailable):  # the manifest is a 404 there
            await app.client.federation_manifest()
        assert not app.screen.check_action("dispatch", ())  # no D on the intents list
        await pilot.press("7")
        await wait_until(pilot, lambda: isinstance(app.screen, PeersScreen) and app.screen.loaded)
        assert plain(app.screen.query_one("#identity")).strip() == NOT_FEDERATED
        assert app.screen.table.empty_text == NOT_FEDERATED
        await pilot.press("8")
        await wait_until(
            pilot, lambda: isinstance(app.screen, DispatchesScreen) and app.screen.loaded
        )
        assert app.screen.table.empty_text == NOT_FEDERATED
        app.open_intent(intent_id)
        await wait_until(pilot, lambda: isinstance(app.screen, IntentDetailScreen))
        await wait_until(pilot, app.screen.loaded.is_set)
        assert not app.screen.query_one("#sec-federation").display


async def test_the_reference_dialect_declares_no_federation(reference_server):
    async with await connect(reference_server.url, reference_server.api_key) as client:
        assert client.dialect == "reference"
        assert not client.capabilities.federation


def test_a_key_that_differs_from_the_pinned_one_is_marked():
    seen = PeerView(url="http://127.0.0.1:1", key_fingerprint="sha256:" + "ab" * 16)
    assert key_cell(seen) == "abababababab"
    changed = msgspec.structs.replace(seen, key_source="pinned", key_mismatch=True)
    assert key_cell(changed) == "abababababab ≠!"


async def test_the_client_reads_federation_into_wire_structs_with_typed_errors(pair: Pair):
    async with await connect(pair.a.url, API_KEY, agent_id="alice") as a:
        assert a.capabilities.federation
        status = await a.federation_status()
        assert status.enabled and status.server_did == "did:web:" + pair.a.url.removeprefix(
            "http://"
        )
        assert (await a.list_dispatches()).dispatches == []
        with pytest.raises(NotFoundError):
            await a.get_dispatch("no-such-dispatch")
        with pytest.raises(NotFoundError):  # an unknown intent: 404, nothing sent
            await a.dispatch_intent("no-such-intent", pair.b_url)
        assert (await a.list_dispatches()).total == 0
    async with await connect(pair.b_url, API_KEY) as b:
        assert [agent.agent_id for agent in await b.federated_agents()] == ["analyst"]


async def test_a_dispatch_to_a_stopped_peer_shows_its_tries_then_arrives(pair: Pair, monkeypatch):
    # A delivery attempt logs no event: the page is re-read while a row is pending.
    monkeypatch.setattr(dispatches_screen, "PENDING_REFRESH_SECONDS", 0.3)
    pair.stack.close()  # B is down
    with pair.a.client() as api:
        intent_id = create_intent(api, "Wait for B")
        body = {"intent_id": intent_id, "target_server": pair.b_url}
        assert api.post("/api/v1/federation/dispatch", json=body).status_code == 202
    app = make_app(pair.a)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.screen.loaded and app.connection_state == "live")
        assert app.screen.check_action("dispatch", ())  # D is offered on the intents list
        await pilot.press("8")
        await wait_until(pilot, lambda: isinstance(app.screen, DispatchesScreen))
        screen = app.screen
        assert isinstance(screen, DispatchesScreen)

        def row() -> tuple[str, ...]:
            (only,) = screen.table.visible_rows or [None]
            return only.cells if only is not None else ()

        await wait_until(pilot, lambda: row() and row()[0] == "pending" and row()[7], what="try")
        assert int(row()[3]) >= 1  # tried, and why it failed is shown
        pair.start_b()
        await wait_until(pilot, lambda: row()[0] == "accepted", what="delivered once B is back")
        assert row()[7] == ""  # the last error clears with a delivery
