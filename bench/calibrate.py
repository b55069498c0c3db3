"""Calibration: how fast is this machine today? A minimal Litestar app (one sync GET returning
a dict) under `uvicorn --no-access-log` pinned to CPU 0, `wrk -t1 -c64` pinned to CPU 1.

The research notes measured 20.9k req/s for exactly this on the same VM type when the
targets were set; record today's figure beside every bench/load.py table.

    .venv/bin/python bench/calibrate.py [--duration 10] [--server uvicorn|granian]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import free_port, pinned

APP = """
from litestar import Litestar, get


@get("/j", sync_to_thread=False)
def j() -> dict:
    return {"hello": "world", "n": 1}


app = Litestar([j])
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--server", choices=["uvicorn", "granian"], default="uvicorn")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="oi-calib-") as tmp:
        Path(tmp, "calib_app.py").write_text(APP)
        port = free_port()
        if args.server == "uvicorn":
            command = [sys.executable, "-m", "uvicorn", "calib_app:app", "--no-access-log"]
            command += ["--port", str(port), "--log-level", "warning"]
        else:
            command = [sys.executable, "-m", "granian", "--interface", "asgi", "--workers", "1"]
            command += ["--port", str(port), "--log-level", "warning", "calib_app:app"]
        env = {**os.environ, "PYTHONPATH": tmp}
        server = subprocess.Popen(pinned(0, command), cwd=tmp, env=env)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/j", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise SystemExit("server did not start") from None
                    time.sleep(0.05)
            wrk = ["wrk", "-t1", "-c64", f"-d{args.duration}s", "--latency"]
            out = subprocess.run(
                pinned(1, [*wrk, f"http://127.0.0.1:{port}/j"]),
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        finally:
            server.terminate()
            server.wait(30)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)
    p50 = re.search(r"50%\s+(\S+)", out).group(1)
    p99 = re.search(r"99%\s+(\S+)", out).group(1)
    load = os.getloadavg()
    print(
        f"{args.server} minimal Litestar GET: {float(rps):.0f} req/s, p50 {p50}, p99 {p99}"
        f" (load average {load[0]:.2f})"
    )


if __name__ == "__main__":
    main()
