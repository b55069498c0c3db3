"""Two servers on one PostgreSQL database are one logical server (issue 12, "Tests beyond
the contract"): an SSE client on B receives, live and in global order, the events written
through A and B at once; twenty agents racing for one lease through both have one holder at
every moment; and `kill -9` of one under write load loses no acknowledged write, leaves the
other serving and streaming, and its pending webhook deliveries are sent by the survivor."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import threading
import time
from collections import Counter
from datetime import datetime

import asyncpg
import httpx
import msgspec
import pytest

from backend.settings import load_settings
from tests.backend.test_leases_concurrency import AGENTS, SCOPE, read_log, replay_holders
from tests.backend.test_streams import comment, frames, new_intent, read_events, stream
from tests.backend.webhook_receiver import Receiver, free_port, serving, wait_until
from tests.e2e.test_crash import KEY, Ledger, server_process, verify, write_load
from tests.support import run_server


def test_a_stream_on_one_instance_carries_writes_through_both(postgres_url):
    with (
        run_server(postgres_url) as a,
        run_server(postgres_url) as b,
        a.client() as on_a,
        b.client() as on_b,
    ):
        intents = [new_intent(on_a, "through A"), new_intent(on_b, "through B")]
        with stream(on_b, "/api/v1/events/stream?since=0") as response:
            assert response.status_code == 200

            def write(server, n: int) -> None:
                with server.client() as client:
                    for k in range(15):
                        comment(client, intents[(n + k) % 2], k)

            writers = [
                threading.Thread(target=write, args=(server, n))
                for n, server in enumerate((a, b, a, b))
            ]
            for thread in writers:
                thread.start()
            for thread in writers:
                thread.join(30)
            total = 2 + 4 * 15
            events = read_events(response, total)
    ids = [int(e["id"]) for e in events]
    assert ids == list(range(1, total + 1))  # every event once, in global order, no gap


WALKERS = (9, 14)
"""Agents that walk away from the lease they got (one on each instance): it expires."""


async def test_twenty_agents_racing_for_one_lease_through_two_instances(postgres_url):
    """Agents alternate between the instances; some release, some walk away and let the
    one-second lease expire (noticed by whichever instance's sweeper or acquirer comes
    first). The log, read from B, replays with one holder at every moment, each lease ends
    exactly once, and no lease begins before the one before it ended."""
    with (
        run_server(postgres_url, lease_sweep_seconds=0.05) as a,
        run_server(postgres_url, lease_sweep_seconds=0.05) as b,
    ):
        clients = [(a, b)[n % 2].async_client(f"agent-{n}") for n in range(AGENTS)]
        observer = b.async_client("observer")
        intent_id = (await observer.post("/api/v1/intents", json={"title": "Race"})).json()["id"]
        rng = random.Random(12)
        granted: dict[str, int] = {}  # lease id -> the agent's number

        async def agent(n: int, client: httpx.AsyncClient) -> None:
            for _ in range(2000):  # bounded: every agent gets its turn long before
                response = await client.post(
                    f"/api/v1/intents/{intent_id}/leases",
                    json={"scope": SCOPE, "duration_seconds": 1},
                )
                if response.status_code == 201:
                    lease_id = response.json()["id"]
                    granted[lease_id] = n
                    if n not in WALKERS:
                        released = await client.delete(
                            f"/api/v1/intents/{intent_id}/leases/{lease_id}"
                        )
                        assert released.status_code == 200, released.text
                    return
                assert response.status_code == 409, response.text
                await asyncio.sleep(rng.uniform(0, 0.02))  # pacing the retries
            raise AssertionError(f"agent {n} never got the lease")

        try:
            await asyncio.gather(*(agent(n, c) for n, c in enumerate(clients)))
            # The last walker's lease ends by expiry: wait for whichever sweeper logs it.
            log = await read_log(observer, intent_id)
            for _ in range(200):
                if sum(e["event_type"] == "lease_released" for e in log) == AGENTS:
                    break
                await asyncio.sleep(0.05)
                log = await read_log(observer, intent_id)
        finally:
            for client in (*clients, observer):
                await client.aclose()

    held = replay_holders(log)
    assert sorted(h["lease_id"] for h in held) == sorted(granted)
    assert {n % 2 for n in granted.values()} == {0, 1}  # granted through both instances
    ended_at = None
    ends: Counter[str] = Counter()
    for event in log:
        payload = event["payload"]
        if event["event_type"] == "lease_acquired" and payload["action"] == "acquired":
            began = datetime.fromisoformat(event["created_at"])
            assert ended_at is None or began >= ended_at, (began, ended_at)
        elif event["event_type"] == "lease_released":
            ends[payload["lease_id"]] += 1
            ended = payload.get("expires_at") if payload["action"] == "expired" else None
            ended_at = datetime.fromisoformat(ended or event["created_at"])
    assert ends == Counter({lease_id: 1 for lease_id in granted})
    expired = [e for e in log if e["payload"].get("action") == "expired"]
    assert sorted(e["payload"]["lease_id"] for e in expired) == sorted(
        lease_id for lease_id, n in granted.items() if n in WALKERS
    )


def test_a_postgresql_url_selects_the_postgresql_store():
    from backend.app import open_store
    from backend.store.postgres import PostgresStore
    from backend.store.sqlite import SqliteStore

    for url in ("postgresql://u:secret@db.example:5432/oi", "postgres://u@db.example/oi"):
        settings = load_settings({"db": url}, environ={})
        assert settings.postgres_url == url
        assert isinstance(open_store(settings), PostgresStore)
        assert "secret" not in settings.db_display
    assert load_settings({}, environ={"OPENINTENT_DB": "postgres://h/oi"}).postgres_url
    assert isinstance(open_store(load_settings({"db": "x.db"}, environ={})), SqliteStore)
    claims = load_settings({}, environ={"OPENINTENT_POSTGRES_CLAIM_SECONDS": "2.5"})
    assert (
        open_store(msgspec.structs.replace(claims, db="postgres://h/oi")).delivery_claims.seconds
        == 2.5
    )
    with pytest.raises(SystemExit, match="postgres_claim_seconds must be more than 0"):
        load_settings({"postgres_claim_seconds": 0}, environ={})
    federated = load_settings({"db": "postgres://h/oi", "federation_enabled": True}, environ={})
    assert federated.federation_enabled and federated.postgres_url


def test_serve_on_postgresql_as_operators_start_it(postgres_url, tmp_path):
    """`openintent-tui serve --db postgresql://...` (here `python -m backend`), twice on one
    database: no file lock refuses the second; both serve the same data."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENINTENT_")}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    with (
        server_process(postgres_url, env=env, log_dir=tmp_path) as a,
        server_process(postgres_url, env=env, log_dir=tmp_path) as b,
    ):
        headers = {"X-API-Key": "k", "X-Agent-ID": "t"}
        made = httpx.post(f"{a.url}/api/v1/intents", json={"title": "on A"}, headers=headers)
        assert made.status_code == 201
        seen = httpx.get(f"{b.url}/api/v1/intents/{made.json()['id']}", headers=headers)
        assert seen.status_code == 200 and seen.json()["title"] == "on A"
        assert "database: postgresql://" in a.output()
        assert a.stop() == 0 and b.stop() == 0


async def _sql(url: str, query: str, *args):
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


def sql(url: str, query: str, *args) -> list:
    """One query on the test's database, from a synchronous test."""
    return asyncio.run(_sql(url, query, *args))


def by_instance(pid: int) -> str:
    """`claimed_by` of the instance with this process id (claims.instance_name)."""
    return f"%:{pid}:%"


class StreamReader(threading.Thread):
    """Reads a live SSE stream in the background: the ids of the events it carried."""

    def __init__(self, url: str, path: str) -> None:
        super().__init__(daemon=True)
        self.client = httpx.Client(
            base_url=url, headers={"X-API-Key": KEY}, timeout=httpx.Timeout(10, read=60)
        )
        self.response = self.client.send(self.client.build_request("GET", path), stream=True)
        assert self.response.status_code == 200
        self.ids: list[int] = []

    def run(self) -> None:
        try:
            for message in frames(self.response):
                if "data" in message:
                    self.ids.append(int(message["id"]))
        except httpx.HTTPError:
            pass  # the server went away at the end of the test

    def close(self) -> None:
        self.response.close()
        self.client.close()


@pytest.mark.slow
def test_kill_9_of_one_instance_under_write_load(postgres_url, tmp_path):
    """Writes go through A until it is killed mid-load, while both instances send the
    webhook deliveries the writes make to a slow receiver. Afterwards:

    - every write A acknowledged is there with gapless sequences, and B keeps serving;
    - a stream opened on B before the kill goes on: every event once, in order, no gap;
    - every delivery arrives, and is POSTed exactly as often as its attempts on record,
      but for those A held claimed when it died: each of those arrives once more at most
      (a send A had in flight, repeated by B after A's claim lapsed), and is finished by B.
    """
    claim_seconds = 2
    env = {
        **os.environ,
        "OPENINTENT_WEBHOOK_ALLOW_CIDRS": "127.0.0.0/8",
        "OPENINTENT_POSTGRES_CLAIM_SECONDS": str(claim_seconds),
    }
    ledger = Ledger()
    receiver = Receiver(free_port(), delay=0.1)  # sends stay in flight: a backlog builds
    with (
        serving(receiver),
        server_process(postgres_url, env=env, log_dir=tmp_path) as a,
        server_process(postgres_url, env=env, log_dir=tmp_path) as b,
        httpx.Client(base_url=a.url, headers={"X-API-Key": KEY, "X-Agent-ID": "t"}) as on_a,
        httpx.Client(base_url=b.url, headers={"X-API-Key": KEY, "X-Agent-ID": "t"}) as on_b,
    ):
        made = on_a.post("/api/v1/subscriptions", json={"webhook_url": receiver.url})
        assert made.status_code == 201, made.text
        reader = StreamReader(b.url, "/api/v1/events/stream?since=0")
        reader.start()

        def finished_by(pid: int) -> int:
            return sql(
                postgres_url,
                "SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'delivered'"
                " AND claimed_by LIKE $1",
                by_instance(pid),
            )[0][0]

        def all_sent() -> bool:
            pending = "SELECT 1 FROM webhook_deliveries WHERE status = 'pending'"
            return not sql(postgres_url, pending)

        # Both instances send: B learns of the subscription made through A from the outbox.
        warm_up = new_intent(on_b, "warm-up")
        for n in range(40):
            comment((on_a, on_b)[n % 2], warm_up, n)
            wait_until(all_sent, "the warm-up's deliveries")
            if finished_by(a.proc.pid) and finished_by(b.proc.pid):
                break
        assert finished_by(a.proc.pid) and finished_by(b.proc.pid), "one instance sent all"

        killed_at = 0.0

        def kill_a() -> None:
            nonlocal killed_at
            killed_at = time.monotonic()
            os.kill(a.proc.pid, signal.SIGKILL)

        asyncio.run(write_load(a.url, ledger, 300, kill_a))
        assert a.proc.wait(10) == -signal.SIGKILL
        assert ledger.count >= 300
        held_by_a = {
            r[0]
            for r in sql(
                postgres_url,
                "SELECT id FROM webhook_deliveries WHERE status = 'pending' AND claimed_by LIKE $1",
                by_instance(a.proc.pid),
            )
        }
        assert held_by_a, "A died holding no claim: nothing to take over"

        verify(b.url, ledger)
        after = new_intent(on_b, "after the kill")
        for n in range(10):
            comment(on_b, after, n)
        wait_until(all_sent, "every delivery sent", limit=120)
        head = sql(postgres_url, "SELECT last_id FROM event_head")[0][0]
        wait_until(lambda: len(reader.ids) >= head, "B's stream to reach the head")
        assert reader.ids == list(range(1, head + 1))  # every event once, in order, no gap
        reader.close()
        assert b.stop() == 0

    deliveries = {
        r[0]: (r[1], r[2], r[3], r[4])
        for r in sql(
            postgres_url,
            "SELECT id, event_seq, status, attempts, claimed_by FROM webhook_deliveries",
        )
    }
    assert sorted(seq for seq, _, _, _ in deliveries.values()) == list(range(1, head + 1))
    assert {status for _, status, _, _ in deliveries.values()} == {"delivered"}
    received = Counter(r.headers["webhook-id"] for r in receiver.requests)
    assert set(received) == set(deliveries)  # every delivery arrived
    extra = {d: received[d] - attempts for d, (_, _, attempts, _) in deliveries.items()}
    again = {d for d, n in extra.items() if n}
    assert set(extra.values()) <= {0, 1}
    assert again <= held_by_a, "only a send in flight at the kill is repeated"
    assert len(again) <= 16  # A's webhook_concurrency: at most that many were in flight
    for delivery in held_by_a:  # taken over and finished by B
        assert f":{a.proc.pid}:" not in deliveries[delivery][3]
    last_receipt = {r.headers["webhook-id"]: r.at for r in receiver.requests}
    assert all(last_receipt[d] > killed_at for d in again)  # repeated after A died, not beside
