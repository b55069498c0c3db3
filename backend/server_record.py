"""One server per database: the serving process holds an exclusive `flock` on
`<db>.server.json` for its whole life and writes there who it is (pid, URL, database, start
time). A second server on the same file cannot take the lock, reads the record and refuses
with it; the console reads the same record to reuse a running server instead of starting
another. The kernel drops the lock when the process ends, however it ends (kill -9
included), so a record whose lock nobody holds is simply stale and is never trusted.

The file is never deleted: removing a lock file races with a process that has just opened
it (both would then believe they hold "the" lock). It stays, 0600, holding the last record.

Consoles sharing the bundled server: each holds a *shared* `flock` on `<db>.consoles` while it
uses the server (`ConsoleLease`). The bundled server (`serve --stop-when-unused`) checks every
second whether any console still holds it (`ConsolesGone`) and stops itself once none does,
so the server lives while any console uses it, whichever quits first, and goes when the last
one leaves (or is killed: the kernel drops its lock). A console that quits stops a server it
started at once when it was the last one (`consoles_attached`).
"""

from __future__ import annotations

import fcntl
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from .private_files import FILE_MODE, make_private_dirs

SUFFIX = ".server.json"
CONSOLES_SUFFIX = ".consoles"
PROBE_GRACE_SECONDS = 0.5


class ServerRecord(msgspec.Struct, kw_only=True):
    pid: int
    url: str = ""
    """Where the server answers (empty while it is still binding its socket)."""
    db: str
    started_at: str = ""


class ServerRunning(Exception):
    """Another process serves this database."""

    def __init__(self, record: ServerRecord | None, db: Path) -> None:
        self.record = record
        where = (
            f"at {record.url} (pid {record.pid})"
            if record and record.url
            else f"(pid {record.pid}, still starting)"
            if record
            else "(no record yet)"
        )
        super().__init__(
            f"another openintent-tui server is already running on {db} {where}; "
            "connect to it, stop it, or pick another database with --db"
        )


def record_path(db: Path) -> Path:
    return db.with_name(db.name + SUFFIX)


class ServerLock:
    """Held by the serving process from before it binds until it exits."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.path = record_path(db)
        self._fd: int | None = None

    def acquire(self) -> ServerLock:
        """Take the lock or raise `ServerRunning` with the holder's record."""
        make_private_dirs(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        # A console probing the lock holds a shared lock for a few microseconds; a server
        # holds it for good. Retrying briefly tells the two apart.
        deadline = time.monotonic() + PROBE_GRACE_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise ServerRunning(read_record(self.path), self.db) from None
                time.sleep(0.05)
        self._fd = fd
        self.write(ServerRecord(pid=os.getpid(), db=str(self.db)))
        return self

    def write(self, record: ServerRecord) -> None:
        """Rewritten in place: the lock belongs to this inode, a rename would lose it."""
        assert self._fd is not None
        if not record.started_at:
            record.started_at = datetime.now(UTC).isoformat()
        data = msgspec.json.encode(record) + b"\n"
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None


def read_record(path: Path) -> ServerRecord | None:
    try:
        return msgspec.json.decode(path.read_bytes(), type=ServerRecord)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return None  # absent, or caught between truncate and write


def running_server(db: Path, *, wait_for_url: float = 10.0) -> ServerRecord | None:
    """The record of the server holding `db`'s lock, or None when no process holds it.

    A holder that has not written its URL yet (it is binding its socket) is waited for up to
    `wait_for_url` seconds."""
    path = record_path(db)
    deadline = time.monotonic() + wait_for_url
    while True:
        if not _lock_held(path):
            return None
        record = read_record(path)
        if record is not None and record.url:
            return record
        if time.monotonic() > deadline:
            return record
        time.sleep(0.05)


def _lock_held(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # a probe's shared lock goes with its descriptor
    return False


def consoles_path(db: Path) -> Path:
    return db.with_name(db.name + CONSOLES_SUFFIX)


class ConsoleLease:
    """A console's claim on the bundled server of `db`: a shared lock held until `release()`
    or the process's end. Taken before looking for a server, so a server that is stopping
    (it holds the file exclusively) is waited for instead of adopted."""

    def __init__(self, db: Path) -> None:
        self.path = consoles_path(db)
        self._fd: int | None = None

    def acquire(self, timeout: float = 15.0) -> ConsoleLease:
        make_private_dirs(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                break
            except BlockingIOError:  # a server found itself unused and is stopping
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise TimeoutError(f"{self.path} stayed locked for {timeout:.0f} s") from None
                time.sleep(0.05)
        self._fd = fd
        return self

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _claim_unused(path: Path) -> int | None:
    """An open descriptor holding `path` exclusively when no console holds it, else None."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def consoles_attached(db: Path) -> bool:
    """True while at least one console holds a `ConsoleLease` on `db`."""
    fd = _claim_unused(consoles_path(db))
    if fd is None:
        return True
    os.close(fd)
    return False


class ConsolesGone:
    """The bundled server's side: `check()` is True once no console holds a lease. From then
    on this keeps the file locked exclusively until the process ends, so a console arriving
    while the server stops waits for it to be gone and starts a fresh one."""

    def __init__(self, db: Path) -> None:
        self.path = consoles_path(db)
        self._fd: int | None = None

    def check(self) -> bool:
        if self._fd is None:
            self._fd = _claim_unused(self.path)
        return self._fd is not None
