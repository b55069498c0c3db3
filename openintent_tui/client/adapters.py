"""Tolerance for servers that answer in other shapes than ours (chiefly the reference server).

Responses are decoded straight into the `backend.wire` Structs. Only when that fails do we
normalise the raw JSON — bare lists wrapped into their envelope, `parent_id` renamed, naive
timestamps marked UTC, float confidences rounded — and convert again, so the Structs stay the
one definition of every shape and our own server pays nothing for the tolerance.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")

# `2026-11-22T05:53:21.995640` (no offset): the reference sends naive UTC times.
_NAIVE_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")
_RENAMES = {"parent_id": "parent_intent_id"}
_decoder = msgspec.json.Decoder()


def _is_time_key(key: str) -> bool:
    return key.endswith("_at") or key in ("timestamp", "expiresAt", "createdAt")


def normalise(value: Any) -> Any:
    """Return `value` with the reference server's quirks smoothed out, recursively."""
    if isinstance(value, list):
        return [normalise(item) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        target = _RENAMES.get(key, key)
        if target != key and target in value:
            continue  # both spellings present: keep the canonical one
        if isinstance(item, str) and _is_time_key(key) and _NAIVE_ISO.match(item):
            item = item.replace(" ", "T") + "+00:00"
        elif key == "confidence" and isinstance(item, float):
            item = round(item * 100) if item <= 1 else round(item)
        else:
            item = normalise(item)
        out[target] = item
    return out


def envelope(raw: Any, key: str | None, **defaults: Any) -> Any:
    """Wrap a bare list into `{key: [...]}` plus defaults (e.g. `total`)."""
    if key is not None and isinstance(raw, list):
        raw = {key: raw}
    if key is not None and isinstance(raw, dict):
        for name, default in defaults.items():
            if name not in raw:
                raw[name] = default(raw[key]) if callable(default) else default
    return raw


def decode(content: bytes, kind: type[T], *, key: str | None = None, **defaults: Any) -> T:
    """Decode a response body into `kind`, tolerating other servers' shapes."""
    try:
        return msgspec.json.decode(content, type=kind)
    except msgspec.ValidationError:
        pass
    raw = envelope(normalise(_decoder.decode(content)), key, **defaults)
    return msgspec.convert(raw, kind, strict=False)


def convert(raw: Any, kind: type[T]) -> T:
    """Convert already-parsed JSON (an SSE `data:` line) into `kind`, tolerating quirks."""
    try:
        return msgspec.convert(raw, kind)
    except msgspec.ValidationError:
        return msgspec.convert(normalise(raw), kind, strict=False)


def unwrap_list(raw: Any, key: str) -> list:
    """`{key: [...]}` or a bare list -> the list."""
    if isinstance(raw, dict):
        return list(raw.get(key) or [])
    return list(raw or [])
