"""Tolerance for servers that answer in other shapes than ours (chiefly the reference server).

Responses are decoded straight into the `backend.wire` Structs. Only when that fails, or when
the body carries naive timestamps, do we adapt the raw JSON and convert again, so the Structs
stay the one definition of every shape and our own server pays nothing for the tolerance.

Adapting is directed by the target Struct's fields: bare lists are wrapped into their
envelope, `parent_id` is renamed, naive timestamps are marked UTC, float confidences become
0-100, fields the other server names differently or lacks are derived (a lease's `status`, a
cost's `metadata`...), and missing optional/collection fields get their empty value. Opaque
JSON (state, payload, context, metadata) is never touched: it is the user's data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Any, TypeVar

import msgspec
from msgspec import inspect as mi

from backend.domain.clock import parse_iso_or_none
from backend.wire.attachments import Attachment
from backend.wire.costs import Cost
from backend.wire.governance import Decision
from backend.wire.intents import Intent
from backend.wire.leases import Lease
from backend.wire.retries import Failure, RetryPolicy

T = TypeVar("T")

# `2026-11-22T05:53:21.995640` (no offset): the reference sends naive UTC times.
_NAIVE_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")
_NAIVE_IN_BODY = re.compile(rb'"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?"')
_OUR_OFFSET = b'+00:00"'
_decoder = msgspec.json.Decoder()
_MISSING: Any = object()

# Fields naming who acted. The reference server writes the caller's API key there.
IDENTITY_FIELDS = frozenset(
    {"agent_id", "actor", "created_by", "uploaded_by", "decision_maker_id", "requester_id"}
)


def masked_key(api_key: str) -> str:
    """What is shown instead of an API key that a server echoed as an identity."""
    return f"(api key ...{api_key[-4:]})"  # ASCII: it may be sent back as X-Agent-ID


def _is_time_key(key: str) -> bool:
    return key.endswith("_at") or key in ("timestamp", "expiresAt", "createdAt", "updatedAt")


def mark_utc(value: str) -> str:
    """A naive ISO time marked as UTC (the reference server's clock); others unchanged."""
    if _NAIVE_ISO.match(value):
        return value.replace(" ", "T") + "+00:00"
    return value


# ---- per-Struct derivations: the other server's names and missing fields -----------------


def _intent(raw: dict[str, Any]) -> None:
    if "parent_id" in raw:
        parent = raw.pop("parent_id")
        raw.setdefault("parent_intent_id", parent)


def _lease(raw: dict[str, Any]) -> None:
    raw.setdefault("acquired_at", raw.get("created_at"))
    raw.setdefault("created_at", raw.get("acquired_at"))
    if "status" not in raw:  # the reference lists released and lapsed leases without one
        expires = parse_iso_or_none(raw.get("expires_at"))
        if raw.get("released_at"):
            raw["status"] = "released"
        elif expires is not None and expires <= datetime.now(UTC):
            raw["status"] = "expired"
        else:
            raw["status"] = "active"


def _cost(raw: dict[str, Any]) -> None:
    if "metadata" not in raw:
        raw["metadata"] = raw.get("cost_metadata") or {}


def _retry_policy(raw: dict[str, Any]) -> None:
    raw.setdefault("updated_at", raw.get("created_at"))
    raw.setdefault("failure_threshold", 0)  # 0: the server has no fallback threshold


def _failure(raw: dict[str, Any]) -> None:
    raw.setdefault("error_code", raw.get("error_type"))
    raw.setdefault("created_at", raw.get("occurred_at"))
    raw.setdefault("recoverable", True)


def _attachment(raw: dict[str, Any]) -> None:
    raw.setdefault("uploaded_by", raw.get("created_by"))
    raw.setdefault("stored", False)  # a server that cannot store bytes keeps URLs only


def _decision(raw: dict[str, Any]) -> None:
    # The reference lists RFC-0013 coordinator decisions: {coordinator_id, summary,
    # rationale, timestamp}; RFC-0003 says decided_by/rationale.
    raw.setdefault("decision_maker_id", raw.get("coordinator_id") or raw.get("decided_by"))
    raw.setdefault("outcome", raw.get("summary"))
    raw.setdefault("reasoning", raw.get("rationale"))
    raw.setdefault("rationale", raw.get("reasoning"))
    raw.setdefault("created_at", raw.get("timestamp"))


FIXES: dict[type, Callable[[dict[str, Any]], None]] = {
    Intent: _intent,
    Lease: _lease,
    Cost: _cost,
    RetryPolicy: _retry_policy,
    Failure: _failure,
    Attachment: _attachment,
    Decision: _decision,
}


# ---- the type-directed walk -----------------------------------------------------------------


@cache
def _info(kind: Any) -> mi.Type:
    return mi.type_info(kind)


def _allows_none(kind: mi.Type) -> bool:
    if isinstance(kind, mi.NoneType | mi.AnyType):
        return True
    return isinstance(kind, mi.UnionType) and any(isinstance(t, mi.NoneType) for t in kind.types)


def _empty_of(kind: mi.Type) -> Any:
    """The neutral value for a field a server left out, or _MISSING when there is none."""
    if _allows_none(kind):
        return None
    if isinstance(kind, mi.DictType):
        return {}
    if isinstance(kind, mi.ListType):
        return []
    if isinstance(kind, mi.BoolType):
        return False
    return _MISSING


def _is_int(kind: mi.Type) -> bool:
    return isinstance(kind, mi.IntType)


def _adapt(value: Any, kind: mi.Type, secret: str | None) -> Any:
    if isinstance(kind, mi.StructType) and isinstance(value, dict):
        return _adapt_struct(dict(value), kind, secret)
    if isinstance(kind, mi.ListType) and isinstance(value, list):
        return [_adapt(item, kind.item_type, secret) for item in value]
    if isinstance(kind, mi.UnionType):
        for option in kind.types:
            if isinstance(option, mi.StructType | mi.ListType):
                return _adapt(value, option, secret)
    return value


def _adapt_struct(raw: dict[str, Any], kind: mi.StructType, secret: str | None) -> dict:
    for cls in kind.cls.__mro__:
        fix = FIXES.get(cls)
        if fix is not None:
            fix(raw)
            break
    for field in kind.fields:
        name = field.encode_name
        value = raw.get(name, _MISSING)
        if value is _MISSING or (value is None and not _allows_none(field.type)):
            if field.required or value is None:
                empty = _empty_of(field.type)
                if empty is not _MISSING:
                    raw[name] = empty
            continue
        if isinstance(value, str):
            if _is_time_key(name):
                raw[name] = mark_utc(value)
            elif secret and value == secret and name in IDENTITY_FIELDS:
                raw[name] = masked_key(secret)
        elif isinstance(value, float) and _is_int(field.type) and name == "confidence":
            raw[name] = round(value * 100) if value <= 1 else round(value)
        else:
            raw[name] = _adapt(value, field.type, secret)
    return raw


def adapt(raw: Any, kind: Any, *, secret: str | None = None) -> Any:
    """`raw` JSON reshaped toward `kind` (a wire Struct, or a list of them). `secret`: the
    client's API key, masked wherever a server echoed it as who acted."""
    return _adapt(raw, _info(kind), secret)


def envelope(raw: Any, key: str | None, **defaults: Any) -> Any:
    """Wrap a bare list into `{key: [...]}` plus defaults (e.g. `total`)."""
    if key is not None and isinstance(raw, list):
        raw = {key: raw}
    if key is not None and isinstance(raw, dict):
        for name, default in defaults.items():
            if name not in raw:
                raw[name] = default(raw[key]) if callable(default) else default
    return raw


def _needs_adapting(content: bytes) -> bool:
    """Naive timestamps in a body that otherwise decodes: not our server (ours always sends
    `+00:00`, found early, so big bodies of ours are not scanned)."""
    return _OUR_OFFSET not in content and _NAIVE_IN_BODY.search(content) is not None


def decode(
    content: bytes,
    kind: type[T],
    *,
    key: str | None = None,
    secret: str | None = None,
    **defaults: Any,
) -> T:
    """Decode a response body into `kind`, tolerating other servers' shapes."""
    try:
        value = msgspec.json.decode(content, type=kind)
    except msgspec.ValidationError:
        pass
    else:
        if not _needs_adapting(content):
            return value
    raw = envelope(_decoder.decode(content), key, **defaults)
    return msgspec.convert(adapt(raw, kind, secret=secret), kind, strict=False)


def convert(raw: Any, kind: type[T], *, secret: str | None = None) -> T:
    """Convert already-parsed JSON (an SSE `data:` line) into `kind`, tolerating quirks."""
    try:
        return msgspec.convert(raw, kind)
    except msgspec.ValidationError:
        return msgspec.convert(adapt(raw, kind, secret=secret), kind, strict=False)


def unwrap_list(raw: Any, key: str) -> list:
    """`{key: [...]}` or a bare list -> the list."""
    if isinstance(raw, dict):
        return list(raw.get(key) or [])
    return list(raw or [])
