"""Schemathesis against a real server: every operation in `/docs/openapi.json`, generated
from the document itself, must never answer 5xx and must answer only what the document says
(status codes, content types, response schemas and headers; the key enforced where declared).

The server is `python -m backend` in a subprocess, on a loopback port with its own SQLite
file. The run is reproducible: a fixed seed (OPENINTENT_FUZZ_SEED) and a bounded budget
(OPENINTENT_FUZZ_EXAMPLES cases per operation and phase). On failure the message names the
seed and a directory holding the database, the server log, Schemathesis' output and its
reports: OPENINTENT_FUZZ_ARTIFACTS, or a fresh one in the system temp dir (pytest's own
temporary directories are pruned after a few runs).

Before the run the test creates one of each resource (intents, a portfolio, leases, an
arbitration, an attachment, a subscription...) and lets Schemathesis use their ids for half
of the generated path ids, so requests reach real resources, not only 404s.

The server runs with federation enabled (trust policy `open`, so an unsigned envelope with
the key is received for real and creates a local intent; one peer, never reachable, so that a
dispatch is recorded and callbacks for it are applied); a second, short run covers the
federation operations again on a server without federation, where each answers "not
enabled" (400, or 404 for the well-known documents).

Select it with `-m fuzz`, or skip it with `-m "not fuzz"`.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.fuzz

AGENT = "schemathesis"  # Schemathesis' X-Agent-ID: it holds some seeded leases, not others
SEED = int(os.environ.get("OPENINTENT_FUZZ_SEED", "20261206"))
EXAMPLES = int(os.environ.get("OPENINTENT_FUZZ_EXAMPLES", "25"))
API_KEY = "fuzz-key-0123456789"
CONFIG = Path(__file__).with_name("schemathesis.toml")
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "ignored_auth",
]
PHASES = ["examples", "coverage", "fuzzing", "stateful"]
SERVING = re.compile(r"serving the OpenIntent API on (http://\S+)/api/v1")
PEER = "http://127.0.0.9:9"  # the discard port: nothing listens, a send is refused at once
FEDERATION_PATHS = r"(/federation/|/\.well-known/(did|openintent-federation)\.json$)"
RUN_TIMEOUT = 900  # far above the expected ~2 minutes: a hang must still end the test


def _wait_for_url(process: subprocess.Popen, log: Path, deadline_seconds: float = 30) -> str:
    """The announced URL, once /health answers there (the port is announced when bound,
    a moment before the server listens)."""
    deadline = time.monotonic() + deadline_seconds
    url = None
    while time.monotonic() < deadline and process.poll() is None:
        if url is None and (found := SERVING.search(log.read_text(errors="replace"))):
            url = found.group(1)
        if url is not None:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    return url
            except httpx.TransportError:
                pass
        time.sleep(0.05)  # polling for readiness, not waiting a fixed time
    raise RuntimeError(f"the server did not start; its log:\n{log.read_text(errors='replace')}")


@contextmanager
def headless_server(workdir: Path, federation: bool = True) -> Iterator[str]:
    """`python -m backend` with a fresh database, no user config, logging to server.log;
    with federation enabled and open to any source, or without federation."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENINTENT_")}
    if federation:
        env["OPENINTENT_FEDERATION_ENABLED"] = "1"
        env["OPENINTENT_FEDERATION_TRUST_POLICY"] = "open"
        env["OPENINTENT_FEDERATION_PEERS"] = PEER  # never reached: sending retries quietly
        env["OPENINTENT_EGRESS_ALLOW_CIDRS"] = "127.0.0.9/32"  # the peer alone, on loopback
    env["XDG_CONFIG_HOME"] = str(workdir / "config")  # no ~/.config/openintent-tui/server.toml
    env["XDG_DATA_HOME"] = str(workdir / "data")
    log = workdir / "server.log"
    command = [sys.executable, "-m", "backend", "--port", "0", "--db", str(workdir / "oi.db")]
    command += ["--api-key", API_KEY, "--log-level", "warning"]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        yield _wait_for_url(process, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def schemathesis_command(
    url: str, config: Path, report_dir: Path, only: str | None = None
) -> list[str]:
    selection = [] if only is None else ["--include-path-regex", only]
    return [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--no-color",
        "--config-file",
        str(config),
        "run",
        f"{url}/docs/openapi.json",
        *selection,
        "--header",
        f"X-API-Key: {API_KEY}",
        "--header",
        f"X-Agent-ID: {AGENT}",
        "--checks",
        ",".join(CHECKS),
        "--phases",
        ",".join(PHASES),
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",  # one at a time: the same seed gives the same requests in the same order
        "--request-timeout",
        "5",
        "--report",
        "junit,har",
        "--report-dir",
        str(report_dir),
    ]


def seed_resources(url: str, federation: bool = True) -> dict[str, list[str]]:
    """One of each resource (and, with federation, a received dispatch); returns their ids
    by path parameter name."""
    headers = {"X-API-Key": API_KEY, "X-Agent-ID": AGENT}
    with httpx.Client(base_url=f"{url}/api/v1", headers=headers, timeout=10) as api:

        def post(path: str, body: dict, **kwargs) -> dict:
            response = api.post(path, json=body, **kwargs)
            assert response.status_code == 201, (path, response.text)
            return response.json()

        intent = post("/intents", {"title": "Seed", "state": {"progress": 0, "items": [1, 2]}})
        child = post(f"/intents/{intent['id']}/children", {"title": "Seed child"})
        base = f"/intents/{intent['id']}"
        post(f"{base}/agents", {"agent_id": AGENT})
        post(f"{base}/agents", {"agent_id": "worker-2"})
        own = post(f"{base}/leases", {"scope": "progress", "duration_seconds": 600})
        other = post(
            f"{base}/leases",
            {"scope": "items", "duration_seconds": 600},
            headers={"X-Agent-ID": "worker-2"},
        )
        arbitration = post(f"{base}/arbitrate", {"reason": "Which way?"})
        attachment = post(f"{base}/attachments", {"filename": "a.txt", "content": "aGk="})
        post(f"{base}/costs", {"cost_type": "tokens", "amount": 12, "unit": "tokens"})
        post(f"{base}/failures", {"error_code": "timeout", "error_message": "slow"})
        assert api.put(f"{base}/retry-policy", json={"max_retries": 2}).status_code == 200
        portfolio = post("/portfolios", {"name": "Seed portfolio"})
        post(f"/portfolios/{portfolio['id']}/intents", {"intent_id": intent["id"]})
        subscription = post("/subscriptions", {"intent_id": intent["id"]})
        dispatch_ids = []
        if federation:
            envelope = {
                "dispatch_id": "seed-dispatch",
                "source_server": "https://peer.example",
                "intent_id": "remote-intent",
                "intent_title": "Seed dispatch",
            }
            received = api.post("/federation/receive", json=envelope)
            assert received.status_code == 200 and received.json()["accepted"], received.text
            dispatch_ids.append(envelope["dispatch_id"])
            sent = api.post(
                "/federation/dispatch",
                json={"intent_id": child["id"], "target_server": PEER, "callback_url": PEER},
            )
            assert sent.status_code == 202, sent.text
            dispatch_ids.append(sent.json()["dispatch_id"])  # callbacks for it are applied
    return {
        "intent_id": [intent["id"], child["id"]],
        "portfolio_id": [portfolio["id"]],
        "lease_id": [own["id"], other["id"]],
        "arbitration_id": [arbitration["id"]],
        "attachment_id": [attachment["id"]],
        "subscription_id": [subscription["id"]],
        "agent_id": [AGENT, "worker-2"],
        "assignee": [AGENT, "worker-2"],
        **({"dispatch_id": dispatch_ids} if dispatch_ids else {}),
    }


def config_with_ids(ids: dict[str, list[str]], target: Path) -> Path:
    """The committed config plus: each path id is a seeded one half of the time."""
    lines = [CONFIG.read_text(), ""]
    for name, values in ids.items():
        quoted = ", ".join(f'"{v}"' for v in values)
        lines += [f"[dictionaries.{name}]", f"values = [{quoted}]", ""]
    lines.append("[parameters]")
    lines += [f'"path.{name}" = {{ dictionary = "{name}", probability = 0.5 }}' for name in ids]
    target.write_text("\n".join(lines) + "\n")
    return target


def keep_artifacts(workdir: Path) -> Path:
    """Copy the run's files where they outlive pytest's pruning of its temporary dirs."""
    target = os.environ.get("OPENINTENT_FUZZ_ARTIFACTS")
    if target:
        kept = Path(target) / f"seed-{SEED}-{time.strftime('%Y%m%dT%H%M%S')}"
    else:
        kept = Path(tempfile.mkdtemp(prefix=f"openintent-fuzz-seed-{SEED}-"))
    shutil.copytree(
        workdir, kept, dirs_exist_ok=True, ignore=shutil.ignore_patterns("config", "data")
    )
    return kept


def _failures(output: str) -> str:
    """Schemathesis' FAILURES section (what failed and a curl to reproduce it)."""
    start = output.find("FAILURES")
    return output[start:] if start >= 0 else output[-6000:]


@pytest.mark.parametrize(
    ("federation", "only"),
    [(True, None), (False, FEDERATION_PATHS)],
    ids=["federation-enabled", "federation-disabled"],
)
def test_every_operation_conforms_to_the_openapi_document(
    tmp_path: Path, federation: bool, only: str | None
) -> None:
    report_dir = tmp_path / "schemathesis-report"
    output_file = tmp_path / "schemathesis.txt"
    started = time.monotonic()
    with headless_server(tmp_path, federation) as url:
        ids = seed_resources(url, federation)
        config = config_with_ids(ids, tmp_path / "schemathesis.toml")
        result = subprocess.run(
            schemathesis_command(url, config, report_dir, only),
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            env={**os.environ, "NO_COLOR": "1"},
            cwd=tmp_path,  # Schemathesis keeps a .schemathesis/ cache in its working dir
        )
    output_file.write_text(result.stdout + result.stderr)
    server_log = (tmp_path / "server.log").read_text(errors="replace")
    unhandled = server_log.count("unhandled error on")
    if result.returncode != 0 or unhandled:
        kept = keep_artifacts(tmp_path)
        which = "federation-enabled" if federation else "federation-disabled"
        pytest.fail(
            f"Schemathesis found responses the OpenAPI document does not allow "
            f"(exit {result.returncode}; {unhandled} unhandled errors in the server log).\n"
            f"Reproduce: OPENINTENT_FUZZ_SEED={SEED} OPENINTENT_FUZZ_EXAMPLES={EXAMPLES} "
            f".venv/bin/pytest -m fuzz tests/fuzz -k {which}\n"
            f"Kept in {kept}: oi.db (the server's database), server.log, "
            f"schemathesis.txt (full output), schemathesis.toml (the config, with the seeded "
            f"ids), schemathesis-report/ (JUnit, HAR)\n\n"
            f"{_failures(result.stdout)}",
            pytrace=False,
        )
    # every operation in the document was exercised, none skipped or filtered out
    selected = re.search(r"Selected: (\d+)/(\d+)", result.stdout)
    tested = re.search(r"Tested: (\d+)", result.stdout)
    assert selected and tested, result.stdout[-3000:]
    if only is None:
        assert selected.group(1) == selected.group(2), result.stdout[-3000:]
    assert selected.group(1) == tested.group(1) != "0", result.stdout[-3000:]
    print(f"schemathesis: seed {SEED}, {EXAMPLES} examples, {time.monotonic() - started:.0f} s")
