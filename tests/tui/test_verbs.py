"""The one table of console verbs, and the dialect chosen at connect time."""

from __future__ import annotations

from openintent_tui.app import OpenIntentApp
from openintent_tui.client import OpenIntentClient, connect
from openintent_tui.client.api import NATIVE, Capabilities
from openintent_tui.commands import palette_commands
from openintent_tui.contexts import ConnectionInfo
from openintent_tui.screens.leases import LeasesScreen
from openintent_tui.verbs import VERBS, find
from openintent_tui.widgets.command_line import CommandLine
from tests.support import API_KEY, loopback_socket, run_server
from tests.tui.tui_support import create_intent, make_app, wait_until

SIZE = (130, 36)


def test_every_verb_names_real_bindings_capabilities_and_runs_its_palette_entries():
    names = [name for verb in VERBS for name in verb.names]
    assert len(names) == len(set(names))
    binding_ids = {b.id for b in OpenIntentApp.BINDINGS if hasattr(b, "id")}
    for verb in VERBS:
        assert verb.binding is None or verb.binding in binding_ids, verb.name
        # Our server has all it needs (federation once it is enabled).
        assert verb.usable(Capabilities(federation=True)), verb.name
        for _, text in verb.palette:
            assert find(text)[0] is verb, text


async def test_the_command_line_completes_a_verb_and_the_palette_lists_them(server):
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.screen.loaded)
        listed = {text for _, text, _ in palette_commands(app)}
        assert {"intents", "leases", "arb", "portfolios", "activity", "help", "q"} <= listed
        await pilot.press("colon", *"lea")
        line = app.screen.query_one(CommandLine)
        # The suggestion arrives from a worker (Input keeps it in `_suggestion`).
        await wait_until(pilot, lambda: line._suggestion == "leases", what="suggestion")
        await pilot.press("right", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, LeasesScreen), what=":leases")


async def test_connect_picks_the_native_dialect_for_our_server(server):
    async with await connect(server.url, server.api_key, agent_id="alice") as client:
        assert isinstance(client, OpenIntentClient) and client.dialect == "native"
        assert client.capabilities == NATIVE
        assert not client.capabilities.federation and client.capabilities.agent_routing


async def test_a_server_down_at_start_is_connected_once_it_answers(tmp_path):
    sock = loopback_socket()
    port = sock.getsockname()[1]
    sock.close()  # nothing listens yet
    url = f"http://127.0.0.1:{port}"
    app = OpenIntentApp(ConnectionInfo(name="late", url=url, api_key=API_KEY, operator="alice"))
    async with app.run_test(size=SIZE) as pilot:
        root = app.screen
        await wait_until(pilot, lambda: app.connection_state == "reconnecting", what="retrying")
        assert "Cannot list intents" in root.table.empty_text  # it said why, and waits
        with run_server(tmp_path / "late.db", port=port) as server:
            with server.client() as api:
                intent_id = create_intent(api, "Came up late")
            app.action_reconnect()
            await wait_until(pilot, lambda: app.connection_state == "live", limit=30)
            root.reload()  # `r`
            await wait_until(pilot, lambda: root.table.get_row(intent_id) is not None)
