"""SVG snapshots of `:peers` and `:dispatches`: two federated servers on fixed loopback ports,
with fixed identities (the RFC 8032 test seeds), frozen ids, server time and round trips.

Regenerate after a deliberate UI change with `pytest tests/tui/test_federation_snapshots.py
--snapshot-update`, then look at the SVGs before committing them.
"""

from __future__ import annotations

import itertools
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

import backend.federation.peers as peer_monitor
import backend.store.sqlite.core as store_core
from openintent_tui.screens.dispatches import DispatchesScreen
from openintent_tui.screens.peers import PeersScreen
from tests.federation.helpers import wait_for, write_config
from tests.federation.vectors import KEYS
from tests.support import API_KEY, LiveServer, run_server
from tests.tui.test_snapshots import SERVER_TIME, SIZE, FrozenApp, ready
from tests.tui.tui_support import connection, create_intent, wait_until

# Above the ephemeral range (32768+), so no other test's random port takes them.
A_PORT, B_PORT = 18741, 18742
A_URL, B_URL = f"http://127.0.0.1:{A_PORT}", f"http://127.0.0.1:{B_PORT}"


def identity_file(path: Path, name: str) -> str:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(bytes.fromhex(KEYS[name][0]))
    return str(path)


def config(path: Path, peer_url: str, agents: str = "") -> str:
    return write_config(
        path,
        f"""\
        federation:
          peers:
            - url: "{peer_url}"
              api_key: "{API_KEY}"
        {agents}""",
    )


def dispatches(live: LiveServer, direction: str) -> list[dict]:
    with live.client() as api:
        return api.get(f"/api/v1/federation/dispatches?direction={direction}").json()["dispatches"]


@pytest.fixture
def federated(tmp_path, monkeypatch) -> Iterator[LiveServer]:
    counter = itertools.count(1)

    def next_uid() -> str:
        # The two servers draw from one counter in an order that varies; the screens show
        # ids by their last 8 characters, kept all zeros here.
        return str(uuid.UUID(int=next(counter) << 64, version=4))

    for module in list(sys.modules.values()):
        if (module.__name__ or "").startswith("backend.store") and hasattr(module, "new_uid"):
            monkeypatch.setattr(module, "new_uid", next_uid)
    monkeypatch.setattr(store_core, "now_iso", lambda: SERVER_TIME)
    monkeypatch.setattr(peer_monitor, "now_iso", lambda: SERVER_TIME)
    monkeypatch.setattr(peer_monitor, "time", SimpleNamespace(perf_counter=lambda: 0.0))
    monkeypatch.setattr(peer_monitor, "REFRESH_SECONDS", 0.3)
    b_agents = "  agents:\n          - {agent_id: analyst, visibility: public}\n"
    with (
        run_server(
            tmp_path / "a.db",
            A_PORT,
            federation_enabled=True,
            federation_config=config(tmp_path / "a.yaml", B_URL),
            federation_key_file=identity_file(tmp_path / "a.key", "A"),
        ) as a,
        run_server(
            tmp_path / "b.db",
            B_PORT,
            federation_enabled=True,
            federation_config=config(tmp_path / "b.yaml", A_URL, b_agents),
            federation_key_file=identity_file(tmp_path / "b.key", "B"),
        ) as b,
    ):
        with a.client() as api:
            for title in ("Forecast Q2 demand", "Translate the EU terms"):
                intent_id = create_intent(api, title)
                body = {"intent_id": intent_id, "target_server": B_URL, "agent_id": "analyst"}
                assert api.post("/api/v1/federation/dispatch", json=body).status_code == 202
        with b.client() as api:
            intent_id = create_intent(api, "Audit vendor invoices")
            body = {"intent_id": intent_id, "target_server": A_URL}
            assert api.post("/api/v1/federation/dispatch", json=body).status_code == 202
        wait_for(
            lambda: (
                [d["status"] for d in dispatches(a, "out")] == ["accepted", "accepted"]
                and [d["status"] for d in dispatches(b, "out")] == ["accepted"]
            )
        )
        wait_for(
            lambda: (
                httpx.get(
                    f"{A_URL}/api/v1/federation/peers", headers={"X-API-Key": API_KEY}
                ).json()["peers"][0]["dispatches_in"]
                == 1
            )
        )
        yield a


def test_peers(federated, snap_compare):
    async def run_before(pilot) -> None:
        await ready(pilot)
        await pilot.press("7")
        await wait_until(
            pilot,
            lambda: (
                isinstance(pilot.app.screen, PeersScreen)
                and (row := pilot.app.screen.table.get_row(B_URL)) is not None
                and row.cells[0] == "up"
                and row.cells[9] == "1"
            ),
        )
        await pilot.pause(0.2)

    app = FrozenApp(connection(federated, name="demo"))
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_dispatches_out(federated, snap_compare):
    async def run_before(pilot) -> None:
        await ready(pilot)
        await pilot.press("8")
        await wait_until(
            pilot,
            lambda: (
                isinstance(pilot.app.screen, DispatchesScreen)
                and pilot.app.screen.loaded
                and pilot.app.screen.table.row_count == 2
            ),
        )
        table = pilot.app.screen.table
        table.sort_by("local")  # same created_at: the (random) ids would decide the order
        table.cursor = 0  # the cursor follows its row through the sort
        await pilot.pause(0.2)

    app = FrozenApp(connection(federated, name="demo"))
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
