"""Files that hold secrets (the database with webhook signing secrets, the generated API key,
the server record) are readable by their owner only: directories we create are 0700, files
0600. A directory that already exists (a user-given parent such as /tmp) is left as it is."""

from __future__ import annotations

import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def make_private_dirs(path: Path) -> None:
    """Create `path` and any missing parents, each new one 0700 (os.makedirs would give the
    parents the umask's default, usually 0755)."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:
            pass  # created meanwhile by someone else: theirs to set


def create_private_file(path: Path) -> bool:
    """Create an empty file 0600 if there is none; True when this call created it."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        return False
    return True


def restrict_to_owner(path: Path) -> None:
    """Drop group and other permissions from an existing file or directory of ours (a
    database created by an earlier version as 0644). What we cannot change (not ours) is
    left alone."""
    try:
        mode = path.stat().st_mode
        if stat.S_IMODE(mode) & 0o077:
            path.chmod(stat.S_IMODE(mode) & 0o700)
    except (FileNotFoundError, PermissionError):
        pass
