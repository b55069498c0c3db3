"""Time is timezone-aware UTC, sent as ISO 8601 with +00:00 (the SDK rejects `Z` on 3.10)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def now_iso() -> str:
    return iso(utc_now())


def parse_iso(text: str) -> datetime:
    """Accepts `Z`, offsets and naive values (taken as UTC, which is what peers mean)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_iso_or_none(text: object) -> datetime | None:
    """`parse_iso` for values read from elsewhere: None when it is not a time at all."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return parse_iso(text)
    except ValueError:
        return None
