"""mypy over the server and the console (config: `[tool.mypy]` in pyproject.toml), so a call
the client's Protocol or the Store does not have fails here rather than showing as
"unavailable on this server" or a 500."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 300  # a cold cache takes ~15 s here; a warm one under a second


def mypy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def test_server_and_console_type_check():
    result = mypy()  # the packages and settings of pyproject.toml
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_misspelt_client_call_is_a_type_error(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from openintent_tui.screens.base import ConsoleScreen\n\n\n"
        "async def load(screen: ConsoleScreen) -> None:\n"
        "    await screen.client.get_intnet('i1')\n"
    )
    result = mypy(str(probe))
    assert result.returncode == 1, result.stdout + result.stderr
    assert '"ServerAPI" has no attribute "get_intnet"' in result.stdout


def test_a_misspelt_store_call_is_a_type_error(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from backend.store import Store\n\n\n"
        "async def load(store: Store) -> None:\n"
        "    await store.get_intnet('i1')\n"
    )
    result = mypy(str(probe))
    assert result.returncode == 1, result.stdout + result.stderr
    assert '"Store" has no attribute "get_intnet"' in result.stdout
