"""State patches: `set`, `append` and `remove` at a JSON Pointer (RFC 6901).

The SDK sends a bare top-level key (`"path": "progress"`): a path without a leading `/` names
that one top-level key literally (the SDK's `update_state({"a/b": 1})` means the key `a/b`).
A patch list applies all-or-nothing: the input state is never modified.
"""

from __future__ import annotations

import copy
from typing import Any

from .errors import InvalidInput
from .numbers import parse_decimal

OPS = ("set", "append", "remove")


def parse_pointer(path: str) -> list[str]:
    """`/a/b~1c/~0d` -> ["a", "b/c", "~d"]; `a/b` -> ["a/b"]; `` -> [] (the root)."""
    if path == "":
        return []
    if not path.startswith("/"):
        return [path]
    tokens = path[1:].split("/")
    for token in tokens:
        stripped = token.replace("~0", "").replace("~1", "")
        if "~" in stripped:
            raise _bad(path, "invalid escape: '~' must be followed by 0 or 1")
    return [t.replace("~1", "/").replace("~0", "~") for t in tokens]


def scope_of(path: str) -> str:
    """The first path segment: the unit that leases (RFC-0003) guard."""
    tokens = parse_pointer(path)
    return tokens[0] if tokens else ""


def apply_patches(
    state: dict[str, Any], patches: list[tuple[str, str, Any]], *, copy_state: bool = True
) -> dict[str, Any]:
    """Apply (op, path, value) triples to a deep copy of `state` and return it.
    `copy_state=False` patches `state` itself (a caller that owns it and drops it on error)."""
    if not patches:
        raise InvalidInput(
            "At least one patch is required",
            errors=[{"field": "patches", "message": "empty"}],
        )
    document = copy.deepcopy(state) if copy_state else state
    for index, (op, path, value) in enumerate(patches):
        try:
            document = _apply_one(document, op, path, value)
        except InvalidInput as exc:
            exc.errors = [{**e, "index": index} for e in exc.errors]
            raise
    return document


def _bad(path: str, reason: str) -> InvalidInput:
    return InvalidInput(
        f"Invalid patch path {path!r}: {reason}",
        errors=[{"field": "path", "path": path, "message": reason}],
    )


def _apply_one(document: dict[str, Any], op: str, path: str, value: Any) -> dict[str, Any]:
    if op not in OPS:
        raise InvalidInput(
            f"Unknown patch op {op!r}",
            errors=[{"field": "op", "message": f"must be one of {', '.join(OPS)}"}],
        )
    tokens = parse_pointer(path)
    if isinstance(value, dict | list):
        # The document gets its own copy: a later patch in the request may change what this
        # one put there, and the request's value (logged in the event) must stay as sent.
        value = copy.deepcopy(value)
    if not tokens:
        if op == "set" and isinstance(value, dict):
            return value
        raise _bad(path, "the root can only be replaced by `set` with an object")
    parent = _walk_to_parent(document, tokens, path, create=op != "remove")
    key = tokens[-1]
    if isinstance(parent, dict):
        if op == "set":
            parent[key] = value
        elif op == "append":
            target = parent.setdefault(key, [])
            if not isinstance(target, list):
                raise _bad(path, "append needs an array at this path")
            target.append(value)
        else:
            if key not in parent:
                raise _bad(path, "nothing to remove at this path")
            del parent[key]
        return document
    index = _array_index(parent, key, path, allow_end=op != "remove")
    if op == "set":
        if index == len(parent):
            parent.append(value)
        else:
            parent[index] = value
    elif op == "append":
        if index == len(parent):
            raise _bad(path, "append needs an array at this path")
        target = parent[index]
        if not isinstance(target, list):
            raise _bad(path, "append needs an array at this path")
        target.append(value)
    else:
        del parent[index]
    return document


def _walk_to_parent(document: Any, tokens: list[str], path: str, *, create: bool) -> Any:
    node = document
    for token in tokens[:-1]:
        if isinstance(node, dict):
            if token not in node:
                if not create:
                    raise _bad(path, f"no member {token!r}")
                node[token] = {}
            node = node[token]
        elif isinstance(node, list):
            node = node[_array_index(node, token, path, allow_end=False)]
        else:
            raise _bad(path, f"{token!r} is inside a scalar value")
    if not isinstance(node, dict | list):
        raise _bad(path, "the parent is a scalar value")
    return node


def _array_index(array: list[Any], token: str, path: str, *, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(array)
    index = parse_decimal(token, leading_zeros=False)
    if index is None:  # RFC 6901: ASCII digits, no leading zero
        raise _bad(path, f"{token!r} is not an array index")
    limit = len(array) if allow_end else len(array) - 1
    if index > limit:
        raise _bad(path, f"index {index} is out of range")
    return index


def nesting(value: Any) -> int:
    """Levels of arrays/objects in `value`: 0 for a scalar, 1 for `[1]` or `{}`."""
    if isinstance(value, dict):
        return 1 + max(map(nesting, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(nesting, value), default=0)
    return 0


def check_depth(patches: list[tuple[str, str, Any]], max_depth: int) -> None:
    """Refuse patches that could make the state nest deeper than `max_depth` levels: a value
    lands `len(path)` levels down (one more for `append`), so a state within the limit stays
    within it, whatever it holds now. (Each request body is itself depth-limited, but one
    patch after another could otherwise stack a state deep enough to break copying and
    encoding.)"""
    for index, (op, path, value) in enumerate(patches):
        if op == "remove":
            continue
        tokens = parse_pointer(path)
        depth = max(len(tokens), 1) + nesting(value) + (op == "append")
        if depth > max_depth:
            raise InvalidInput(
                f"Patch {index} would nest the state {depth} levels deep (the limit is "
                f"{max_depth})",
                errors=[{"field": "path", "path": path, "index": index, "message": "too deep"}],
            )
