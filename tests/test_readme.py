"""The README's client example runs as written against a live server."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_client_example_runs(server, tmp_path) -> None:
    (example,) = python_blocks()
    assert '"http://127.0.0.1:8000"' in example and '"KEY"' in example
    script = tmp_path / "example.py"
    script.write_text(
        example.replace('"http://127.0.0.1:8000"', repr(server.url)).replace(
            '"KEY"', repr(server.api_key)
        )
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # Created, patched, leased, released: the stream replays the intent's whole log in order.
    assert [line.split()[1] for line in lines] == [
        "intent_created",
        "state_patched",
        "lease_acquired",
        "lease_released",
    ]
    assert [int(line.split()[0]) for line in lines] == [1, 2, 3, 4]
