"""Strict JSON request bodies, the same on both request paths (Litestar handlers and
`api/fast.py`).

- The body must say it is JSON: `Content-Type: application/json` or `application/*+json`
  (parameters such as `charset` are ignored). Anything else, a missing header included, is a
  415: a form or a text body is not silently parsed as JSON.
- Nesting is limited (`max_json_depth`, default 64 levels of arrays/objects), checked before
  decoding, so a 10,000-level array is a 400 and never a RecursionError, and nothing deeper
  reaches the domain, the store or the response encoder.
- The body decodes straight into the handler's wire Struct with msgspec's strict rules: no
  `"300"` for an integer, no `1.0` for an integer, no unknown fields; the Structs' `Meta`
  bounds (integer ranges, string lengths) are checked in the same pass.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ClientException, ValidationException
from litestar.status_codes import HTTP_415_UNSUPPORTED_MEDIA_TYPE
from litestar.types import Empty

from .params import handler_function

_decoders: dict[Any, msgspec.json.Decoder] = {}
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_SQUARE = bytes.maketrans(b"{}", b"[]")
_FIELD = re.compile(r"`\$\.?(.*)`$")


class UnsupportedMediaType(ClientException):
    status_code = HTTP_415_UNSUPPORTED_MEDIA_TYPE


def is_json_media_type(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def too_deep(body: bytes, limit: int) -> bool:
    """Whether `body`'s arrays and objects nest more than `limit` levels (brackets inside
    strings do not count). Free when the body holds at most `limit` brackets, the usual case.
    Otherwise, at C speed: cut the strings out, keep only brackets (as `[` and `]`), then peel
    the innermost `[]` pairs level by level; whatever survives `limit` peels was deeper, and a
    run of more than `limit` opening brackets proves it early. Malformed JSON may be misjudged
    here, but then it fails to decode anyway."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    structure = _STRING.sub(b"", body).translate(_SQUARE, _NOT_BRACKETS)
    too_many_opens = b"[" * (limit + 1)
    for _ in range(limit):
        if not structure:
            return False
        if too_many_opens in structure:
            return True
        structure = structure.replace(b"[]", b"")
    return bool(structure)


def _decoder(target: Any) -> msgspec.json.Decoder:
    decoder = _decoders.get(target)
    if decoder is None:
        decoder = _decoders[target] = msgspec.json.Decoder(target)
    return decoder


def check_json_body(body: bytes, content_type: str | None, max_depth: int) -> None:
    """The checks before any decoding: 415 when `body` is not declared JSON, 400 when it
    nests deeper than `max_depth`. For handlers that parse their own body (federation
    verifies signatures over the object as received) as well as for `decode_json_body`."""
    if not is_json_media_type(content_type):
        raise UnsupportedMediaType(
            f"Request bodies must be JSON (Content-Type: application/json), "
            f"not {content_type or 'undeclared'}"
        )
    if too_deep(body, max_depth):
        raise ClientException(f"JSON nested deeper than {max_depth} levels")


def decode_json_body(body: bytes, target: Any, content_type: str | None, max_depth: int) -> Any:
    """`body` as `target` (a wire Struct), or an HTTPException with the one error shape:
    415 when it is not declared JSON, 400 when too deep, malformed or invalid."""
    check_json_body(body, content_type, max_depth)
    try:
        return _decoder(target).decode(body)
    except msgspec.ValidationError as exc:
        text = str(exc)
        match = _FIELD.search(text)
        key = (match.group(1) or "data") if match else "data"
        error = {"message": text.split(" - ", 1)[0], "key": key, "field": key, "source": "body"}
        raise ValidationException(f"Invalid request body ({key})", extra=[error]) from None
    except (msgspec.DecodeError, RecursionError) as exc:
        raise ClientException(f"Invalid JSON body: {exc}") from None


_body_types: dict[Any, Any] = {}


def _body_type(request: Request) -> Any:
    handler = request.route_handler
    fn = handler_function(handler)
    target = _body_types.get(fn, Empty)
    if target is Empty:
        field = handler.parsed_fn_signature.parameters.get("data")
        target = _body_types[fn] = Any if field is None else field.annotation
    return target


class StrictRequest(Request):
    """The app's request class: `json()` (which Litestar calls to fill a handler's `data`)
    decodes with `decode_json_body`. Litestar then finds the Struct already built and
    passes it through."""

    async def json(self) -> Any:
        if self._json is Empty:
            body = await self.body()
            self._json = decode_json_body(
                body,
                _body_type(self),
                self.headers.get("content-type"),
                self.app.state.settings.max_json_depth,
            )
        return self._json
