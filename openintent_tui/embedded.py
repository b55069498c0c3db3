"""The bundled server as a child process on a loopback port, for `openintent-tui` with no
server given. A child (not a thread) so the UI stays responsive under load and a server
fault cannot take the console down: the console just sees the connection drop.

Whoever serves a database (this console's child, another console's, or a headless
`openintent-tui serve`) holds the lock on its record file beside it
(`backend.server_record`): a console reuses that server instead of starting a second one
on the same database, and a child that loses a race for the lock finds the winner the same
way.

Several consoles on one bundled server (bug 2 of issue 15): each console holds a lease on
`<db>.consoles` while it runs (`server_record.ConsoleLease`), and the server runs with
`--stop-when-unused`, in a session of its own. A console that quits stops the server at once
only when it started it and no other console holds a lease; otherwise the server stays up for
the others and stops itself within a second of the last console leaving (quit, crash or
kill -9 alike). So `:q` in the first console never strands the second.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from backend.private_files import make_private_dirs
from backend.server_record import (
    ConsoleLease,
    ServerRecord,
    consoles_attached,
    running_server,
)
from backend.settings import Settings, data_dir, ensure_api_key, generated_key_path
from backend.wire.headers import API_KEY

LOG_FILE = "embedded-server.log"


class EmbeddedError(Exception):
    """The bundled server could not be started; the message includes its log's tail."""


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def server_answers(url: str, api_key: str, timeout: float = 2.0) -> bool:
    """True when an OpenIntent server at `url` is healthy AND accepts `api_key` (so a foreign
    server that happens to hold the port is never mistaken for ours)."""
    try:
        with httpx.Client(base_url=url, timeout=timeout) as http:
            if http.get("/health").status_code != 200:
                return False
            probe = http.get("/api/v1/events", params={"limit": 1}, headers={API_KEY.name: api_key})
            return probe.status_code == 200
    except httpx.HTTPError:
        return False


class EmbeddedServer:
    """`start()` (or reuse), `url`, `api_key`, `stop()`. Use as a context manager."""

    def __init__(
        self,
        db: Path | None = None,
        *,
        reuse: bool = True,
        startup_timeout: float = 30.0,
        workdir: Path | None = None,
        api_key: str | None = None,
        port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.workdir = workdir or data_dir()
        self.db = (Path(db) if db else Settings().db_path).absolute()
        self.reuse = reuse
        self.startup_timeout = startup_timeout
        self.api_key = api_key or ""
        """Given: use it (a throwaway server). Else the generated key in the data dir."""
        self.port = port
        """Fixed when given (servers that must know each other's URL up front: the demo)."""
        self.env = dict(env or {})
        """OPENINTENT_* settings for this server on top of the environment."""
        self.url = ""
        self.pid: int | None = None
        self.process: subprocess.Popen | None = None
        self.reused = False
        self.restarts = 0
        self.lease = ConsoleLease(self.db)
        self._started = False
        self._watcher: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> EmbeddedServer:
        if not self.api_key:
            settings, _ = ensure_api_key(Settings(db=str(self.db)))
            self.api_key = settings.api_keys[0]
        try:
            self.lease.acquire(self.startup_timeout)
        except TimeoutError as exc:
            raise EmbeddedError(
                f"the bundled server of {self.db} is stuck stopping: {exc}"
            ) from None
        except OSError as exc:
            raise EmbeddedError(f"cannot create the server's directories: {exc}") from None
        try:
            if self.reuse and self._reuse_running():
                return self
            self._spawn(self.port)
        except BaseException:
            self.lease.release()
            raise
        return self

    @property
    def owned(self) -> bool:
        """This console started the server (and so stops it)."""
        return self._started

    def alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return self.pid is not None and _pid_alive(self.pid)

    def watch(self, interval: float = 1.0) -> None:
        """Restart the server (same port, same db) whenever it dies, until `stop()`: a daemon
        thread, so a server crash costs the console a reconnect, nothing more."""
        if not self.owned or self._watcher is not None:
            return
        self._watcher = threading.Thread(
            target=self._watch, args=(interval,), name="embedded-watchdog", daemon=True
        )
        self._watcher.start()

    def _watch(self, interval: float) -> None:
        while not self._stopping.wait(interval):
            with self._lock:
                if self._stopping.is_set():
                    return
                if self.process is not None and self.process.poll() is None:
                    continue
                self.restarts += 1
                try:
                    self._spawn(port=int(self.url.rsplit(":", 1)[1]))
                except EmbeddedError:
                    pass  # try again next interval (the port may still be in TIME_WAIT)
                if self.reused:
                    return  # another process serves the database now: it is theirs to keep up

    def stop(self, timeout: float = 10.0) -> None:
        """Leave the server: stop it now if this console started it and no other console
        uses it; otherwise it keeps serving the others and stops itself after the last."""
        self._stopping.set()
        with self._lock:
            self.lease.release()
            if self.process is not None and consoles_attached(self.db):
                self.process = None  # theirs now: it stops itself when they have all gone
                return
            self._stop_process(timeout)

    def _stop_process(self, timeout: float) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # graceful: drains writes, closes the db
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    # -- internals -------------------------------------------------------------------------
    def _reuse_running(self) -> bool:
        """Adopt the server that holds this database's lock, if there is one."""
        record = running_server(self.db)
        if record is None:
            return False
        if not record.url:
            raise EmbeddedError(
                f"a server (pid {record.pid}) holds {self.db} but has not said where it"
                " listens yet; try again in a moment"
            )
        if not server_answers(record.url, self.api_key):
            raise EmbeddedError(
                f"a server is already running on {self.db} at {record.url} (pid {record.pid})"
                f" but does not accept the key in {generated_key_path()}; connect to it with"
                f" --server {record.url} --api-key KEY, or stop it"
            )
        self._adopt(record)
        return True

    def _adopt(self, record: ServerRecord) -> None:
        self.url, self.pid, self.reused = record.url, record.pid, True
        self.process = None
        self._started = False

    def _spawn(self, port: int | None = None) -> None:
        try:
            make_private_dirs(self.workdir)
            make_private_dirs(self.db.parent)
        except OSError as exc:
            raise EmbeddedError(f"cannot create the server's directories: {exc}") from None
        port = port or free_loopback_port()
        self.url = f"http://127.0.0.1:{port}"
        # The key travels in the environment, not argv, so `ps` does not show it.
        env = {**os.environ, **self.env, "OPENINTENT_API_KEYS": self.api_key}
        env.pop("OPENINTENT_API_KEY_HASHES", None)
        env.pop("OPENINTENT_CONFIG", None)
        log_path = self.workdir / LOG_FILE
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "backend",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--db",
                    str(self.db),
                    "--stop-when-unused",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # A session of its own: closing this console's terminal (SIGHUP) must not
                # take the server from consoles in other terminals. It stops itself once no
                # console holds a lease (--stop-when-unused), so it never outlives them.
                env=env,
                start_new_session=True,
            )
        self.pid = self.process.pid
        self.reused = False
        self._started = True
        self._wait_healthy(log_path)

    def _wait_healthy(self, log_path: Path) -> None:
        deadline = time.monotonic() + self.startup_timeout
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                # Lost a race: another console or a headless server took the database
                # between our look and our child's start. Use that one.
                if self.reuse and self._reuse_running():
                    return
                raise EmbeddedError(f"the bundled server exited:\n{_tail(log_path)}")
            if server_answers(self.url, self.api_key, timeout=1.0):
                return
            time.sleep(0.1)
        self._stop_process(5.0)
        raise EmbeddedError(
            f"the bundled server did not answer within {self.startup_timeout:.0f} s:\n"
            f"{_tail(log_path)}"
        )


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
