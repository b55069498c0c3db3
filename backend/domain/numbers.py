"""Integers from text a client sent: ASCII decimal digits only, within 64 bits.

`str.isdigit()` is true for U+0661 (Arabic-Indic one), `²` and other Unicode digits, and
`int()` then reads it as 1; a header, query value or JSON Pointer index means ASCII digits.
SQLite stores at most a signed 64-bit integer, so nothing larger gets in.
"""

from __future__ import annotations

MAX_INT64 = 2**63 - 1
MIN_INT64 = -(2**63)
_MAX_DIGITS = len(str(MAX_INT64))


def parse_decimal(text: str, *, leading_zeros: bool = True, maximum: int = MAX_INT64) -> int | None:
    """`text` as a non-negative integer, or None when it is not `[0-9]+` (ASCII) or is above
    `maximum`. `leading_zeros=False` refuses `01` (RFC 6901 array indexes); `0` is fine."""
    if not text or not text.isascii() or not text.isdigit():
        return None
    if not leading_zeros and len(text) > 1 and text[0] == "0":
        return None
    if len(text.lstrip("0")) > _MAX_DIGITS:  # no huge int() for a 1 MB string of digits
        return None
    value = int(text)
    return value if value <= maximum else None
