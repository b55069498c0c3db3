"""Schemathesis against a real server: every operation in `/docs/openapi.json`, generated
from the document itself, must never answer 5xx and must answer only what the document says
(status codes, content types, response schemas and headers; the key enforced where declared).

The server is `python -m backend` in a subprocess, on a loopback port with its own SQLite
file. The run is reproducible: a fixed seed (OPENINTENT_FUZZ_SEED) and a bounded budget
(OPENINTENT_FUZZ_EXAMPLES cases per operation and phase). On failure the message names the
seed and a directory holding the database, the server log, Schemathesis' output and its
reports: OPENINTENT_FUZZ_ARTIFACTS, or a fresh one in the system temp dir (pytest's own
temporary directories are pruned after a few runs).

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

import pytest

pytestmark = pytest.mark.fuzz

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
RUN_TIMEOUT = 900  # far above the expected ~2 minutes: a hang must still end the test


def _wait_for_url(process: subprocess.Popen, log: Path, deadline_seconds: float = 30) -> str:
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        if (found := SERVING.search(log.read_text(errors="replace"))) is not None:
            return found.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.05)  # polling the log for the announcement, not waiting a fixed time
    raise RuntimeError(f"the server did not start; its log:\n{log.read_text(errors='replace')}")


@contextmanager
def headless_server(workdir: Path) -> Iterator[str]:
    """`python -m backend` with a fresh database, no user config, logging to server.log."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENINTENT_")}
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


def schemathesis_command(url: str, report_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--no-color",
        "--config-file",
        str(CONFIG),
        "run",
        f"{url}/docs/openapi.json",
        "--header",
        f"X-API-Key: {API_KEY}",
        "--header",
        "X-Agent-ID: schemathesis",
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


def test_every_operation_conforms_to_the_openapi_document(tmp_path: Path) -> None:
    report_dir = tmp_path / "schemathesis-report"
    output_file = tmp_path / "schemathesis.txt"
    started = time.monotonic()
    with headless_server(tmp_path) as url:
        result = subprocess.run(
            schemathesis_command(url, report_dir),
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            env={**os.environ, "NO_COLOR": "1"},
        )
    output_file.write_text(result.stdout + result.stderr)
    server_log = (tmp_path / "server.log").read_text(errors="replace")
    unhandled = server_log.count("unhandled error on")
    if result.returncode != 0 or unhandled:
        kept = keep_artifacts(tmp_path)
        pytest.fail(
            f"Schemathesis found responses the OpenAPI document does not allow "
            f"(exit {result.returncode}; {unhandled} unhandled errors in the server log).\n"
            f"Reproduce: OPENINTENT_FUZZ_SEED={SEED} OPENINTENT_FUZZ_EXAMPLES={EXAMPLES} "
            ".venv/bin/pytest -m fuzz tests/fuzz\n"
            f"Kept in {kept}: oi.db (the server's database), server.log, "
            f"schemathesis.txt (full output), schemathesis-report/ (JUnit, HAR)\n\n"
            f"{_failures(result.stdout)}",
            pytrace=False,
        )
    assert "No issues found" in result.stdout, result.stdout[-3000:]
    print(f"schemathesis: seed {SEED}, {EXAMPLES} examples, {time.monotonic() - started:.0f} s")
