"""Drive the console through every screen and write PNGs to screenshots/ for the README.

    .venv/bin/python scripts/screenshots.py [--out screenshots]

Runs the real server on a loopback port with a throwaway database, seeds it with the demo
workspace (`openintent_tui.demo`) and keeps the demo's agents busy, then walks the app with Pilot:
save_screenshot (SVG) -> add xml:space="preserve" (rsvg-convert drops edge spaces otherwise)
-> rsvg-convert. Needs `apt-get install -y librsvg2-bin fonts-firacode fonts-symbola`.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from openintent_tui import demo  # noqa: E402
from openintent_tui.app import OpenIntentApp  # noqa: E402
from openintent_tui.client import OpenIntentClient  # noqa: E402
from openintent_tui.screens.activity import ActivityScreen  # noqa: E402
from openintent_tui.screens.arbitration import ArbitrationScreen, CaseScreen  # noqa: E402
from openintent_tui.screens.describe import DescribeScreen  # noqa: E402
from openintent_tui.screens.events import EventsScreen  # noqa: E402
from openintent_tui.screens.graph import GraphScreen  # noqa: E402
from openintent_tui.screens.intent_detail import IntentDetailScreen  # noqa: E402
from openintent_tui.screens.leases import LeasesScreen  # noqa: E402
from openintent_tui.screens.overview import OverviewScreen  # noqa: E402
from openintent_tui.screens.portfolios import PortfolioScreen, PortfoliosScreen  # noqa: E402
from tests.support import LiveServer, run_server  # noqa: E402
from tests.tui.tui_support import connection, wait_until  # noqa: E402

SIZE = (140, 40)
DETAIL_KEYS = ("launch", "schema")
"""Demo intents worth showing in the detail view, first found wins."""


async def run_demo(live: LiveServer, stop: asyncio.Event) -> str:
    """Seed the demo workspace through the public client and keep its agents busy; returns
    the id of an intent to open in the detail view."""
    client = OpenIntentClient(live.url, live.api_key, agent_id="demo-seeder")
    workspace = await demo.seed(client)
    asyncio.get_running_loop().create_task(
        demo.run_agents(client, stop, interval=0.1, seed_value=7)
    )
    for key in (*DETAIL_KEYS, *workspace.intents):
        for name, intent_id in workspace.intents.items():
            if key in name:
                return intent_id
    raise RuntimeError("the demo seeded no intents")


def to_png(svg: Path, png: Path) -> None:
    text = svg.read_text(encoding="utf-8")
    preserved = '<svg xml:space="preserve" class="rich-terminal"'
    svg.write_text(text.replace('<svg class="rich-terminal"', preserved), encoding="utf-8")
    subprocess.run(["rsvg-convert", "-z", "1.25", str(svg), "-o", str(png)], check=True)


async def shoot(live: LiveServer, out: Path, work: Path) -> list[Path]:
    stop = asyncio.Event()
    launch_id = await run_demo(live, stop)
    await asyncio.sleep(2.0)  # let the agents get going
    app = OpenIntentApp(connection(live, name="demo", color="green"))
    written: list[Path] = []

    def save(name: str) -> None:
        svg = work / f"{name}.svg"
        app.save_screenshot(str(svg.name), path=str(work))
        to_png(svg, out / f"{name}.png")
        written.append(out / f"{name}.png")

    async def reach(kind, *keys: str) -> None:
        await pilot.press(*keys)
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, kind) and getattr(app.screen, "loaded", True),
            limit=20,
        )
        await pilot.pause(0.6)

    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_until(
            pilot, lambda: app.screen.loaded and app.connection_state == "live", limit=20
        )
        await pilot.pause(1.5)
        save("intents")
        await pilot.press("slash", *"checkout", "enter")
        await pilot.pause(0.3)
        save("intents-filtered")
        await pilot.press("escape", "escape")
        await reach(IntentDetailScreen, "colon", *f"open {launch_id}", "enter")
        await wait_until(pilot, app.screen.loaded.is_set)
        await pilot.pause(2.0)
        save("intent-detail")
        await reach(GraphScreen, "x")
        save("graph")
        await pilot.press("escape")
        await reach(DescribeScreen, "d")
        save("describe")
        await pilot.press("escape")
        await reach(OverviewScreen, "5")
        await pilot.pause(2.0)  # a few more seconds of the agents on the sparklines
        save("overview")
        await reach(EventsScreen, "6")
        save("events")
        await reach(DescribeScreen, "enter")
        save("event-payload")
        await pilot.press("escape")
        await reach(LeasesScreen, "2")
        save("leases")
        await pilot.press("e")  # renew the selected lease: one entry in the activity view
        # Logged either way: a demo agent may have let that lease go a moment before.
        await wait_until(pilot, lambda: app.audit_log, what="the renewal's outcome")
        await reach(ArbitrationScreen, "3")
        save("arbitration-queue")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, CaseScreen))
        await pilot.press("1", "w", *"Matches the release train; revisit next sprint")
        await pilot.pause(0.3)
        save("arbitration-rationale")
        await pilot.press("enter")
        await pilot.pause(0.3)
        save("arbitration-case")
        await pilot.press("d")  # recorded as the operator; the case leaves the queue
        await wait_until(pilot, lambda: isinstance(app.screen, ArbitrationScreen))
        await pilot.pause(0.8)
        save("arbitration-decided")
        await reach(ActivityScreen, "at")
        save("activity")
        await reach(PortfoliosScreen, "4")
        save("portfolios")
        await pilot.press("enter")
        await wait_until(
            pilot, lambda: isinstance(app.screen, PortfolioScreen) and app.screen.loaded
        )
        await pilot.pause(0.5)
        save("portfolio-members")
        await pilot.press("question_mark")
        await pilot.pause(0.3)
        save("help")
        await pilot.press("escape", "ctrl+p", *"leas")
        await pilot.pause(0.5)
        save("palette")
        await pilot.press("escape", "colon", *"intents status=active")
        await pilot.pause(0.2)
        save("command-line")
    stop.set()
    return written


def output_dir() -> Path:
    """`--out` (default screenshots/), created; exits when rsvg-convert is missing."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    out: Path = parser.parse_args().out
    if shutil.which("rsvg-convert") is None:
        sys.exit("rsvg-convert not found: apt-get install -y librsvg2-bin fonts-firacode")
    out.mkdir(parents=True, exist_ok=True)
    return out


def main() -> None:
    out = output_dir()
    with tempfile.TemporaryDirectory() as tmp, run_server(Path(tmp) / "demo.db") as live:
        written = asyncio.run(shoot(live, out, Path(tmp)))
    for path in written:
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


if __name__ == "__main__":
    main()
