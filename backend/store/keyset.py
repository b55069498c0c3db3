"""Keyset (cursor) pagination: the opaque `next_cursor` every list hands out.

A cursor is the sort key of the last row a page held, as URL-safe base64 of a small JSON
array whose first element names the list (and, for intents, the sort). The next page reads
rows after that key through an index, so its cost does not grow with how deep it is, and
rows written between two pages neither repeat nor push others out.

Cursors are not signed: one edited by hand that still decodes to a well-typed key just
starts the page somewhere else, which the caller could ask for anyway. Anything else (not
base64, not JSON, the wrong shape or types, another list's or another sort's cursor, too
long) is a 400, never a 500.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Generic, Literal, NamedTuple, TypeVar

import msgspec

from ..domain.errors import InvalidInput

T = TypeVar("T")

MAX_CURSOR_CHARS = 512
"""Far above any key we encode; refused before decoding anything."""

_encode = msgspec.json.Encoder().encode


def encode_cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(_encode(key)).rstrip(b"=").decode("ascii")


def decode_cursor(text: str, shape: Any, *, field: str = "cursor") -> Any:
    """`text` as `shape` (a `tuple[Literal[kind], ...]` type); a 400 otherwise."""
    try:
        if len(text) > MAX_CURSOR_CHARS or not text.isascii():
            raise ValueError("too long or not ASCII")
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return msgspec.json.decode(raw, type=shape)
    except (ValueError, binascii.Error, msgspec.DecodeError):
        raise InvalidInput(
            f"{field} is not a cursor this list handed out; start again without it",
            errors=[{"field": field, "source": "query"}],
        ) from None


class Slice(NamedTuple, Generic[T]):
    """One page of a list as the store reads it: with whether more follow, so a page is one
    query (`limit + 1` rows), and the cursor of the next page."""

    items: list[T]
    more: bool
    next_cursor: str | None


class KeyColumns(NamedTuple):
    """How a list is ordered for keyset paging: its columns (the last one unique, usually
    the rowid) and the types they decode as from a cursor."""

    kind: str
    """Names the list inside its cursors: one list's cursor is refused by another."""
    columns: tuple[str, ...]
    types: tuple[Any, ...]

    def cursor_shape(self) -> Any:
        return tuple.__class_getitem__((Literal[self.kind], *self.types))


def check_cursor_or_offset(cursor: str | None, offset: int) -> None:
    """A page starts at a cursor or at an offset, not both."""
    if cursor is not None and offset:
        raise InvalidInput(
            "Pass either cursor or a nonzero offset, not both",
            errors=[{"field": "cursor", "source": "query"}, {"field": "offset", "source": "query"}],
        )
