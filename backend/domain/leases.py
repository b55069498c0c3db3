"""Lease rules (RFC-0003): pure checks and arithmetic, no I/O.

A lease row is `active` until it is released, revoked or swept; but whether it still holds
is always judged against the server's clock: an `active` row past its `expires_at` is
expired, whether or not the sweeper has marked it yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import get_args

from ..wire.headers import AGENT_ID
from ..wire.leases import LeaseStatus
from .clock import iso, parse_iso
from .errors import InvalidInput
from .patches import parse_pointer

LEASE_STATUSES: tuple[str, ...] = get_args(LeaseStatus)
LIST_FILTERS = (*LEASE_STATUSES, "all")
MAX_SCOPE_LENGTH = 256

ALL_SCOPES = None
"""What `scopes_touched` returns for a patch of the document root: it overwrites every scope."""


def check_duration(duration_seconds: int, max_seconds: int) -> None:
    if not 1 <= duration_seconds <= max_seconds:
        raise InvalidInput(
            f"duration_seconds must be between 1 and {max_seconds}, not {duration_seconds}",
            errors=[{"field": "duration_seconds", "min": 1, "max": max_seconds}],
        )


def check_scope(scope: str) -> None:
    """A scope is a top-level state key (`hotel` guards `/hotel/...`). A leading `/` would
    look like a pointer yet guard nothing, so it is refused rather than silently useless."""
    if not scope.strip() or len(scope) > MAX_SCOPE_LENGTH:
        raise InvalidInput(
            f"scope must be a non-empty string of at most {MAX_SCOPE_LENGTH} characters",
            errors=[{"field": "scope"}],
        )
    if scope.startswith("/"):
        raise InvalidInput(
            f"scope is a top-level state key: write {scope.lstrip('/')!r}, not {scope!r}",
            errors=[{"field": "scope"}],
        )


def check_list_filter(status: str) -> None:
    if status not in LIST_FILTERS:
        raise InvalidInput(
            f"status must be one of {', '.join(LIST_FILTERS)}, not {status!r}",
            errors=[{"field": "status", "allowed": list(LIST_FILTERS)}],
        )


def holder_of(header_agent: str | None, body_agent: str | None) -> str:
    """Who holds or acts on a lease: X-Agent-ID, else the body's agent_id.

    Never the API key. Two different names in one request are refused rather than guessed.
    """
    if header_agent and body_agent and header_agent != body_agent:
        raise InvalidInput(
            f"X-Agent-ID {header_agent!r} and agent_id {body_agent!r} disagree",
            errors=[{"field": "agent_id"}],
        )
    agent = header_agent or body_agent
    if not agent:
        raise InvalidInput(
            "Say which agent is acting: send the X-Agent-ID header (or agent_id in the body)",
            errors=[{"field": AGENT_ID.name}],
        )
    return agent


def epoch_of(timestamp: str) -> float:
    return parse_iso(timestamp).timestamp()


def expiry_after(now: str, duration_seconds: int) -> tuple[str, float]:
    """(ISO expires_at, epoch seconds) for a lease of `duration_seconds` starting at `now`."""
    moment = parse_iso(now) + timedelta(seconds=duration_seconds)
    return iso(moment), moment.timestamp()


def effective_status(
    stored_status: LeaseStatus, expires_epoch: float, now_epoch: float
) -> LeaseStatus:
    if stored_status == "active" and expires_epoch <= now_epoch:
        return "expired"
    return stored_status


def scopes_touched(paths: Iterable[str]) -> set[str] | None:
    """The scopes a patch list writes to; ALL_SCOPES (None) if one path is the whole document."""
    scopes: set[str] = set()
    for path in paths:
        tokens = parse_pointer(path)
        if not tokens:
            return ALL_SCOPES
        scopes.add(tokens[0])
    return scopes
