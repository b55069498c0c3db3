"""Run the official reference server (`openintent-server` from `openintent[server]==0.17.0`) as a
real subprocess on a free loopback port with its own SQLite file, for the console's tests.

Only its command line and HTTP answers are used; nothing is imported from it.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import msgspec

START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
READY_PATH = "/.well-known/openintent.json"
# The script's own entry point, run with this interpreter (the venv's), so no PATH lookup.
LAUNCH = "import sys; from openintent.server.cli import main; sys.exit(main())"
# With federation: its public `configure_federation` (the server has no flag for it) is
# called first with the JSON keyword arguments given as the first argument.
LAUNCH_FEDERATED = (
    "import json, sys;"
    " from openintent.federation.models import TrustPolicy;"
    " from openintent.server.federation import configure_federation;"
    " options = json.loads(sys.argv.pop(1));"
    " options['trust_policy'] = TrustPolicy(options.get('trust_policy', 'allowlist'));"
    " configure_federation(**options);"
    " from openintent.server.cli import main; sys.exit(main())"
)


class ReferenceServer(msgspec.Struct, frozen=True):
    url: str
    api_key: str
    db_path: Path
    log_path: Path
    pid: int

    def client(self, **headers: str) -> httpx.Client:
        """A plain httpx client with the server's key (to seed data or check it)."""
        return httpx.Client(
            base_url=self.url, headers={"X-API-Key": self.api_key, **headers}, timeout=10
        )


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_ready(process: subprocess.Popen, url: str, log_path: Path) -> bool:
    """True once the server answers; False if it exited first (e.g. the port was taken)."""
    deadline = time.monotonic() + START_TIMEOUT
    with httpx.Client(timeout=1.0) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            try:
                if http.get(url + READY_PATH).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    raise RuntimeError(
        f"the reference server did not answer within {START_TIMEOUT:.0f} s\n{_log_tail(log_path)}"
    )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:  # an open SSE stream can keep uvicorn waiting
        process.kill()
        process.wait(STOP_TIMEOUT)


@contextmanager
def run_reference_server(
    workdir: Path, attempts: int = 3, federation: dict | None = None
) -> Iterator[ReferenceServer]:
    """Start `openintent-server` on 127.0.0.1 with a temp db and a fresh API key; stop it after.
    `federation`: enable its federation with these `configure_federation` options (JSON
    values; `server_url` is its own URL).

    The port is found free and then handed over, so another process can take it in between:
    a server that exits before answering is retried on a new port.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    api_key = "ref-" + secrets.token_hex(8)
    db_path = workdir / "reference.db"
    log_path = workdir / "reference-server.log"
    for _ in range(attempts):
        port = free_loopback_port()
        url = f"http://127.0.0.1:{port}"
        launch = [LAUNCH]
        if federation is not None:
            launch = [LAUNCH_FEDERATED, json.dumps({"server_url": url, **federation})]
        command = [
            sys.executable,
            "-c",
            *launch,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--database-url",
            f"sqlite:///{db_path}",
            "--api-keys",
            api_key,
            "--log-level",
            "warning",
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("OPENINTENT_API_KEYS", None)  # the flag decides, not the caller's shell
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                command, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, env=env
            )
        try:
            if _wait_ready(process, url, log_path):
                break
        except BaseException:
            _stop(process)
            raise
    else:
        raise RuntimeError(
            f"the reference server exited before answering ({attempts} tries)\n"
            f"{_log_tail(log_path)}"
        )
    try:
        yield ReferenceServer(url, api_key, db_path, log_path, process.pid)
    finally:
        _stop(process)
