"""Two federated `serve` instances on one PostgreSQL database are one federated server:
one identity, a dispatch received through both at once makes one intent, a workflow phase
is dispatched once, and with one instance killed (`kill -9`) while it is sending, the
survivor takes its jobs over: every dispatch and callback arrives, and none is ever sent
by the two instances at the same time (a job resent is one the dead instance had in
flight: at least once, as a restart would)."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from backend.federation.outbox import LANE_CONCURRENCY
from backend.store.postgres.presence import LIVE_CLAIMS
from tests.support import run_server

from .helpers import (
    envelope,
    free_port,
    pinned_peer_yaml,
    query_value,
    sdk_identity,
    signed,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.slow
KEY = "instances-key"
HOLD_SECONDS = 0.25
"""How long the peer holds each POST before answering: sends overlap, so an instance has
jobs in flight when it is killed."""
DISPATCHES = 40
RECEIVED = 6
PHASES = 3


class Receipt:
    __slots__ = ("answered", "arrived", "body", "key", "kind")

    def __init__(self, kind: str, key: str, body: dict, arrived: float) -> None:
        self.kind, self.key, self.body, self.arrived = kind, key, body, arrived
        self.answered: float | None = None


class Peer:
    """Another federated server's receive and callback endpoints, recording every POST:
    what it was (a dispatch by id, a callback by idempotency key), when it arrived and when
    it was answered."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.receipts: list[Receipt] = []
        self._lock = threading.Lock()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the senders' client expects

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                if self.path.endswith("/receive"):
                    receipt = Receipt("dispatch", body["dispatch_id"], body, time.monotonic())
                    answer = {
                        "dispatch_id": body["dispatch_id"],
                        "accepted": True,
                        "local_intent_id": f"peer-{body['dispatch_id']}",
                        "message": "accepted",
                    }
                else:
                    receipt = Receipt("callback", body["idempotency_key"], body, time.monotonic())
                    answer = {"status": "ok"}
                with peer._lock:
                    peer.receipts.append(receipt)
                time.sleep(HOLD_SECONDS)
                data = json.dumps(answer).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the sender died meanwhile: never answered
                    return
                receipt.answered = time.monotonic()

            def log_message(self, *args) -> None:
                pass

        return Handler

    def keys(self, kind: str) -> list[str]:
        with self._lock:
            return [r.key for r in self.receipts if r.kind == kind]


@contextmanager
def serving(peer: Peer) -> Iterator[Peer]:
    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer.daemon_threads = True
    httpd = ThreadingHTTPServer(("127.0.0.1", peer.port), peer.handler())
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield peer
    finally:
        httpd.shutdown()
        httpd.server_close()


def start_instance(db: str, port: int, public_url: str, config: str, logs: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENINTENT_")}
    env.update(
        OPENINTENT_FEDERATION_CONFIG=config,
        OPENINTENT_EGRESS_ALLOW_CIDRS="127.0.0.0/8",
        OPENINTENT_PUBLIC_URL=public_url,  # both: one server, one DID (a balancer's URL)
        OPENINTENT_FEDERATION_MAX_ATTEMPTS="20",
        XDG_DATA_HOME=str(logs / "data"),
    )
    log = open(logs / f"instance-{port}.log", "wb")  # noqa: SIM115
    command = [sys.executable, "-m", "backend", "--federation", "--db", db]
    command += ["--port", str(port), "--api-key", KEY]
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    log.close()
    return proc


def wait_up(proc: subprocess.Popen, url: str) -> None:
    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"the instance at {url} exited early")
        try:
            return httpx.get(f"{url}/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(up, timeout=30)


def client(url: str) -> httpx.Client:
    headers = {"X-API-Key": KEY, "X-Agent-ID": "operator"}
    return httpx.Client(base_url=url, headers=headers, timeout=10)


def check_sends(peer: Peer, kill_sent: float, dead_by: float) -> int:
    """No job was ever in flight twice at once from live instances, and a job sent twice
    was first sent before the kill (the dead instance had it in flight or unrecorded), the
    second time after it. The kill happened between `kill_sent` and `dead_by`. Returns how
    many jobs were sent again."""
    by_key: dict[tuple[str, str], list[Receipt]] = {}
    for receipt in peer.receipts:
        by_key.setdefault((receipt.kind, receipt.key), []).append(receipt)
    resent = 0
    for key, receipts in by_key.items():
        receipts.sort(key=lambda r: r.arrived)
        if len(receipts) > 1:
            resent += 1
            assert receipts[0].arrived < dead_by, key
            assert all(r.arrived > kill_sent for r in receipts[1:]), key
        for earlier, later in itertools.pairwise(receipts):
            overlapped = earlier.answered is None or later.arrived < earlier.answered
            assert not overlapped or (earlier.arrived < dead_by and later.arrived > kill_sent), key
    return resent


def test_two_instances_share_the_federation_and_the_survivor_takes_over(postgres_url, tmp_path):
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    public_url = urls[1]  # the survivor's: where a balancer would send the callbacks
    with serving(Peer()) as peer:
        config = write_config(
            tmp_path / "o.yaml",
            "federation:\n  trust_policy: allowlist\n  peers:\n" + pinned_peer_yaml(peer.url),
        )
        procs = [start_instance(postgres_url, p, public_url, config, tmp_path) for p in ports]
        try:
            for proc, url in zip(procs, urls, strict=True):
                wait_up(proc, url)
            run(peer, procs, urls, public_url, postgres_url)
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                proc.wait()


def run(peer: Peer, procs, urls: list[str], public_url: str, db: str) -> None:
    one, two = client(urls[0]), client(urls[1])
    # One identity: the key the database holds, the DID of the shared URL.
    manifests = [c.get("/.well-known/openintent-federation.json").json() for c in (one, two)]
    assert manifests[0]["public_key"] == manifests[1]["public_key"]
    assert manifests[0]["server_did"] == manifests[1]["server_did"]

    # The same dispatch received through both instances at once: one intent.
    identity = sdk_identity("A", peer.url)
    callback_url = f"{peer.url}/api/v1/federation/callback"
    bodies = [
        signed(identity, envelope(peer.url, public_url, callback_url=callback_url))
        for _ in range(RECEIVED)
    ]
    answers: list[httpx.Response] = []

    def post(url: str, body: dict) -> None:
        answers.append(httpx.post(f"{url}/api/v1/federation/receive", json=body, timeout=10))

    posts = [threading.Thread(target=post, args=(u, b)) for b in bodies for u in urls]
    for thread in posts:
        thread.start()
    for thread in posts:
        thread.join(30)
    assert [a.status_code for a in answers] == [200] * 2 * RECEIVED, [a.text for a in answers]
    local = {a.json()["dispatch_id"]: a.json()["local_intent_id"] for a in answers}
    assert len(set(local.values())) == RECEIVED  # both answers name the one intent
    received = two.get("/api/v1/federation/dispatches", params={"direction": "in"}).json()
    assert received["total"] == RECEIVED

    # A workflow whose three dispatched phases both instances' runners see become ready.
    phases = {"collect": {"assign": "collector"}}
    for n in range(PHASES):
        phases[f"send{n}"] = {
            "assign": "analyst",
            "depends_on": ["collect"],
            "dispatch_to": peer.url,
        }
    document = {"openintent": "1.0", "info": {"name": "fan-out"}, "workflow": phases}
    view = one.post("/api/v1/workflows", json=document).json()
    phase_intents = {p["intent_id"] for p in view["phases"] if p["name"] != "collect"}
    collect = next(p for p in view["phases"] if p["name"] == "collect")["intent_id"]

    # Dispatches through both instances, and the completion that readies the phases.
    for n in range(DISPATCHES):
        api = (one, two)[n % 2]
        intent = api.post("/api/v1/intents", json={"title": f"job {n}"}).json()["id"]
        answer = api.post(
            "/api/v1/federation/dispatch", json={"intent_id": intent, "target_server": peer.url}
        )
        assert answer.status_code in (200, 202), answer.text
        if n == DISPATCHES // 2:
            current = one.get(f"/api/v1/intents/{collect}").json()
            done = one.post(
                f"/api/v1/intents/{collect}/status",
                json={"status": "completed"},
                headers={"If-Match": str(current["version"])},
            )
            assert done.status_code == 200, done.text

    # Kill one instance while both are sending: the jobs it holds are known just before.
    wait_for(lambda: len(peer.receipts) >= 8, timeout=30)
    held = claims(db)
    kill_sent = time.monotonic()
    procs[0].send_signal(signal.SIGKILL)
    procs[0].wait()
    dead_by = time.monotonic()

    # The survivor sends everything: each job finished, every dispatch and callback arrived.
    jobs = DISPATCHES + PHASES + RECEIVED  # + one `accepted` callback per received dispatch
    wait_for(
        lambda: (
            query_value(db, "SELECT COUNT(*) FROM federation_outbox WHERE status = 'delivered'")
            == jobs
        ),
        timeout=60,
    )
    assert query_value(db, "SELECT COUNT(*) FROM federation_outbox") == jobs
    out = two.get("/api/v1/federation/dispatches", params={"direction": "out", "limit": 100})
    records = out.json()["dispatches"]
    assert len(records) == DISPATCHES + PHASES
    assert {r["status"] for r in records} == {"delivered"}
    assert set(peer.keys("dispatch")) == {r["dispatch_id"] for r in records}
    assert set(peer.keys("callback")) == {f"accept-{d}" for d in local}

    # Each workflow phase was dispatched once (one dispatch id per phase intent).
    sent_phases = [r["intent_id"] for r in records if r["intent_id"] in phase_intents]
    assert sorted(sent_phases) == sorted(phase_intents)

    # Never sent by two live instances at once; resent only what the dead one held.
    assert check_sends(peer, kill_sent, dead_by) <= LANE_CONCURRENCY
    # The survivor took over the jobs the dead instance held (its claim key is gone).
    live = set(json.loads(query_value(db, f"SELECT json_agg(k) FROM {LIVE_CLAIMS} AS live(k)")))
    orphaned = [job for job, key in held if key not in live]
    assert orphaned, "the killed instance held no job: nothing was taken over"
    finishers = json.loads(
        query_value(
            db,
            "SELECT json_agg(a.claimed_by) FROM federation_attempts a"
            " JOIN federation_outbox o ON o.id = a.outbox_id AND o.attempts = a.attempt"
            " WHERE a.outbox_id = ANY(?::text[])",
            orphaned,
        )
    )
    assert set(finishers) & live, "no job of the dead instance was finished by the survivor"
    assert procs[1].poll() is None


def claims(db: str) -> list[tuple[str, int]]:
    """(job id, claim key) of every pending federation job claimed now."""
    rows = query_value(
        db,
        "SELECT json_agg(json_build_array(id, claimed_by)) FROM federation_outbox"
        " WHERE status = 'pending' AND claimed_by IS NOT NULL",
    )
    return [(job, key) for job, key in json.loads(rows or "[]")]


def test_an_intent_received_through_one_instance_is_bound_and_relayed_through_the_other(
    postgres_url, tmp_path
):
    """Each instance's index of federated intents follows the other's receives: the agent's
    delegated scope binds it, and its progress is called back to the origin, whichever
    instance it works through."""
    with serving(Peer()) as peer:
        config = write_config(
            tmp_path / "o.yaml",
            "federation:\n  trust_policy: allowlist\n  peers:\n" + pinned_peer_yaml(peer.url),
        )
        options = {"federation_enabled": True, "federation_config": config}
        with run_server(postgres_url, **options) as a:
            public = {"public_url": a.url}  # one server: A's URL is B's too
            with run_server(postgres_url, **options, **public) as b:
                on_b = b.client("analyst")
                # B builds its index of federated intents before A receives the dispatch.
                warm = on_b.post("/api/v1/intents", json={"title": "warm B's index"})
                assert warm.status_code == 201
                assert (
                    on_b.post(
                        f"/api/v1/intents/{warm.json()['id']}/events",
                        json={"event_type": "comment", "payload": {}},
                    ).status_code
                    == 201
                )
                callback_url = f"{peer.url}/api/v1/federation/callback"
                body = envelope(peer.url, a.url, callback_url=callback_url, agent_id="analyst")
                answer = httpx.post(
                    f"{a.url}/api/v1/federation/receive",
                    json=signed(sdk_identity("A", peer.url), body),
                    timeout=10,
                )
                assert answer.status_code == 200, answer.text
                local = answer.json()["local_intent_id"]
                # The default scope: state.patch and events.log, not status changes.
                patched = on_b.post(
                    f"/api/v1/intents/{local}/state",
                    json={"patches": [{"op": "set", "path": "/step", "value": 2}]},
                    headers={"If-Match": "1"},
                )
                assert patched.status_code == 200, patched.text
                refused = on_b.post(
                    f"/api/v1/intents/{local}/status",
                    json={"status": "completed"},
                    headers={"If-Match": "2"},
                )
                assert refused.status_code == 403, refused.text
                assert "status.update" in refused.json()["detail"]
                dispatch_id = body["dispatch_id"]
                wait_for(lambda: f"state-{dispatch_id}-2" in peer.keys("callback"))
                state = next(r.body for r in peer.receipts if r.key == f"state-{dispatch_id}-2")
                assert state["state_delta"] == {"step": 2}
