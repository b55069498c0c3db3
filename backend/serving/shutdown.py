"""Leaving after a second signal during shutdown, the same for both HTTP servers."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable


def exit_without_closing(announce: Callable[[str], None]) -> None:
    """After a second signal during shutdown: the lifespan was skipped, so the database
    threads (non-daemon) were never closed and would keep the process alive forever. Every
    acknowledged write is already committed with synchronous=FULL: leave at once."""
    announce("forced exit: the database was not closed; committed writes are durable")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1)
