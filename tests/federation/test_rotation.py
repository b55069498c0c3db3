"""Key rotation between two running servers: after A rotates its key (stopped, restarted on
the same database and port), B, which cached A's old key from A's manifest, verifies A's new
dispatches by fetching the manifest again, and A still verifies B's callbacks."""

from __future__ import annotations

from openintent import OpenIntentClient

from backend.cli import main
from tests.support import run_server

from .helpers import free_port, wait_for, write_config


def sdk(live) -> OpenIntentClient:
    return OpenIntentClient(base_url=live.url, api_key=live.api_key, agent_id="operator")


def dispatch_and_wait(a, b_url: str) -> dict:
    origin = sdk(a)
    intent = origin.create_intent(title="Signed")
    sent = origin.federation_dispatch(intent.id, b_url)

    def record() -> dict:
        with a.client() as api:
            return api.get(f"/api/v1/federation/dispatches/{sent.dispatch_id}").json()

    return wait_for(lambda: (r := record())["status"] == "accepted" and r)


def manifest_key(live) -> str:
    with live.client() as api:
        return api.get("/.well-known/openintent-federation.json").json()["public_key"]


def test_a_rotated_key_is_fetched_again_by_the_peer_and_verifies(tmp_path, databases, capsys):
    a_port = free_port()
    a_url = f"http://127.0.0.1:{a_port}"
    b_config = write_config(tmp_path / "b.yaml", f'federation:\n  peers: ["{a_url}"]\n')
    a_db = databases("a")
    with run_server(databases("b"), federation_enabled=True, federation_config=b_config) as b:
        with run_server(a_db, a_port, federation_enabled=True) as a:
            first = dispatch_and_wait(a, b.url)  # B fetched and cached A's key
            old_key = manifest_key(a)
        main(["--db", str(a_db), "--rotate-identity"])  # the key file's, or the database's
        assert old_key in capsys.readouterr().out
        with run_server(a_db, a_port, federation_enabled=True) as a:
            assert manifest_key(a) != old_key
            second = dispatch_and_wait(a, b.url)  # B's cached key fails: fetched again
            assert second["attempts"] == 1  # not a retry: verified on the first try
            with b.client() as api:
                rows = api.get("/api/v1/federation/dispatches", params={"direction": "in"}).json()[
                    "dispatches"
                ]
            assert {r["dispatch_id"] for r in rows} == {first["dispatch_id"], second["dispatch_id"]}
            with b.client() as api:
                for row in rows:
                    events = api.get(f"/api/v1/intents/{row['local_intent_id']}/events").json()
                    received = next(
                        e for e in events["events"] if e["event_type"] == "federation.received"
                    )
                    assert received["payload"]["verified"] is True
