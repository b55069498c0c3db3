"""The federation screens for the README: two federated servers on loopback (the demo
workspace on one, `demo_peer` on the other, as `--demo` runs them), walked with Pilot.

    .venv/bin/python scripts/screenshots_federation.py [--out screenshots]

Writes federation-peers, federation-peer, federation-dispatches, federation-intent and
federation-send PNGs, the same way as scripts/screenshots.py (whose `to_png` it uses).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from openintent_tui import demo, demo_peer  # noqa: E402
from openintent_tui.app import OpenIntentApp  # noqa: E402
from openintent_tui.client import OpenIntentClient  # noqa: E402
from openintent_tui.modals.dispatch import DispatchModal  # noqa: E402
from openintent_tui.modals.pick import PickModal  # noqa: E402
from openintent_tui.screens.dispatches import DispatchesScreen  # noqa: E402
from openintent_tui.screens.intent_detail import IntentDetailScreen  # noqa: E402
from openintent_tui.screens.peer_detail import PeerScreen  # noqa: E402
from openintent_tui.screens.peers import PeersScreen  # noqa: E402
from screenshots import output_dir, to_png  # noqa: E402
from tests.federation.helpers import free_port, write_config  # noqa: E402
from tests.support import API_KEY, LiveServer, run_server  # noqa: E402
from tests.tui.tui_support import connection, wait_until  # noqa: E402

SIZE = (140, 40)


def federation_config(path: Path, peer_url: str, agents: tuple[str, ...]) -> str:
    text = demo_peer.federation_yaml(peer_url, "UNUSED", agents)
    return write_config(path, text.replace("api_key_env: UNUSED", f'api_key: "{API_KEY}"'))


BACKGROUND: set[asyncio.Task] = set()


async def run_federation(main: LiveServer, peer: LiveServer, stop: asyncio.Event) -> str:
    """Seed both, keep them busy; returns the id of an intent that went to the peer."""
    main_client = OpenIntentClient(main.url, main.api_key, agent_id="demo-seeder")
    peer_client = OpenIntentClient(peer.url, peer.api_key, agent_id="partner-lab")
    workspace = await demo.seed(main_client)
    await demo_peer.seed_federation(main_client, peer_client, workspace)
    for work in (
        demo.run_agents(main_client, stop, interval=0.2, seed_value=7),
        demo_peer.run_peer(main_client, peer_client, stop, interval=0.5),
    ):
        BACKGROUND.add(asyncio.get_running_loop().create_task(work))
    return workspace.intents[demo_peer.SENT[0][0]]


async def shoot(main: LiveServer, peer: LiveServer, out: Path, work: Path) -> list[Path]:
    stop = asyncio.Event()
    sent_id = await run_federation(main, peer, stop)
    app = OpenIntentApp(connection(main, name="demo", color="green"))
    written: list[Path] = []

    def save(name: str) -> None:
        svg = work / f"{name}.svg"
        app.save_screenshot(str(svg.name), path=str(work))
        to_png(svg, out / f"{name}.png")
        written.append(out / f"{name}.png")

    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_until(
            pilot, lambda: app.screen.loaded and app.connection_state == "live", limit=20
        )
        await pilot.press("7")
        await wait_until(
            pilot,
            lambda: (
                isinstance(app.screen, PeersScreen)
                and (row := app.screen.table.get_row(peer.url)) is not None
                and row.cells[0] == "up"
            ),
            limit=30,
        )
        await pilot.pause(4.0)  # some progress from the peer's agents
        app.screen.reload()
        await pilot.pause(0.5)
        save("federation-peers")
        await pilot.press("enter")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, PeerScreen) and app.screen.documents is not None,
            limit=20,
        )
        await pilot.pause(0.5)
        save("federation-peer")
        await pilot.press("8")
        await wait_until(
            pilot, lambda: isinstance(app.screen, DispatchesScreen) and app.screen.loaded
        )
        await pilot.pause(0.5)
        save("federation-dispatches")
        app.open_intent(sent_id)
        await wait_until(pilot, lambda: isinstance(app.screen, IntentDetailScreen))
        detail = app.screen
        assert isinstance(detail, IntentDetailScreen)
        await wait_until(pilot, detail.loaded.is_set, limit=20)
        await pilot.pause(1.5)
        detail.query_one("#detail-left").scroll_end(animate=False)
        await pilot.pause(0.3)
        save("federation-intent")
        await pilot.press("D")
        await wait_until(pilot, lambda: isinstance(app.screen, PickModal), limit=20)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DispatchModal))
        await pilot.press("tab", "tab", *"40")
        await pilot.pause(0.3)
        save("federation-send")
        await pilot.press("escape")
    stop.set()
    return written


def main() -> None:
    out = output_dir()
    main_port, peer_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        main_config = federation_config(
            work / "main.yaml", f"http://127.0.0.1:{peer_port}", demo_peer.MAIN_AGENTS
        )
        peer_config = federation_config(
            work / "peer.yaml", f"http://127.0.0.1:{main_port}", demo_peer.PEER_AGENTS
        )
        with (
            run_server(
                work / "main.db", main_port, federation_enabled=True, federation_config=main_config
            ) as main_server,
            run_server(
                work / "peer.db", peer_port, federation_enabled=True, federation_config=peer_config
            ) as peer_server,
        ):
            written = asyncio.run(shoot(main_server, peer_server, out, work))
    for path in written:
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


if __name__ == "__main__":
    main()
