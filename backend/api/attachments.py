"""Attachments (RFC-0005): inline base64 content stored here, or a reference to a URL.

The add handler reads its own body: the stored-content limit is a runtime setting
(`attachment_max_bytes`), while Litestar's per-handler body limit is fixed at import. So
Litestar's limit is off for this one handler and the body is read with a cap derived from
the setting, answering 413 as soon as it is passed (before reading on, when the declared
Content-Length already says so).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from functools import partial
from typing import Any
from urllib.parse import quote, urlsplit

from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from ..domain.errors import InvalidInput, PayloadTooLarge
from ..store import Store
from ..store.attachments import NewAttachment
from ..wire.attachments import Attachment, AttachmentCreate, AttachmentList
from .body import decode_json_body
from .openapi import json_body_operation
from .params import AgentIdHeader, Offset, actor_of, page_of

CAPABILITIES = ["attachments"]

JSON_ALLOWANCE = 64 * 1024  # filename, metadata and the JSON around the base64 text
MAX_FILENAME = 255
DEFAULT_MIME = "application/octet-stream"
_MIME = re.compile(r"^[\w.+-]+/[\w.+-]+(\s*;.*)?$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def body_cap(max_bytes: int) -> int:
    """The largest request that can carry `max_bytes` of content as base64."""
    return 4 * -(-max_bytes // 3) + JSON_ALLOWANCE


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"Attachment content is limited to {max_bytes} bytes", limit_bytes=max_bytes
    )


async def read_capped(request: Request, cap: int, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise _too_large(max_bytes)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def decode_body(request: Request, body: bytes) -> AttachmentCreate:
    """By the same strict rules as every other JSON body (api/body.py)."""
    return decode_json_body(
        body,
        AttachmentCreate,
        request.headers.get("content-type"),
        request.app.state.settings.max_json_depth,
    )


def _one(fields: dict[str, Any]) -> Any:
    """The value of whichever alias was sent; two different values are a 400."""
    given = {k: v for k, v in fields.items() if v is not None}
    if len(set(map(repr, given.values()))) > 1:
        names = " and ".join(given)
        raise InvalidInput(
            f"{names} are aliases but have different values",
            errors=[{"field": name} for name in given],
        )
    return next(iter(given.values()), None)


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}", errors=[{"field": field, "message": message}])


def checked_attachment(data: AttachmentCreate, max_bytes: int) -> NewAttachment:
    filename = data.filename.strip()
    if not filename or len(filename) > MAX_FILENAME:
        raise _bad("filename", f"1 to {MAX_FILENAME} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in filename):
        raise _bad("filename", "must not contain control characters")
    mime = _one({"mime_type": data.mime_type, "content_type": data.content_type}) or DEFAULT_MIME
    if not _MIME.match(mime):
        raise _bad("mime_type", "must look like type/subtype")
    size = _one({"size": data.size, "size_bytes": data.size_bytes})
    url = _one({"storage_url": data.storage_url, "url": data.url})
    if data.sha256 is not None and not _SHA256.match(data.sha256):
        raise _bad("sha256", "64 lowercase hex digits")
    if (data.content is None) == (url is None):
        raise InvalidInput(
            "Send exactly one of content (base64 bytes to store) or storage_url/url",
            errors=[{"field": "content"}, {"field": "storage_url"}],
        )
    metadata = data.metadata or {}
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise _bad("storage_url", "an http or https URL")
        return NewAttachment(
            filename=filename,
            mime_type=mime,
            size=size or 0,
            reference=url,
            sha256=data.sha256,
            metadata=metadata,
        )
    assert data.content is not None  # exactly one of content and url, checked above
    if len(data.content) > 4 * -(-max_bytes // 3):
        raise _too_large(max_bytes)
    try:
        content = base64.b64decode(data.content, validate=True)
    except (binascii.Error, ValueError):
        raise _bad("content", "must be standard base64") from None
    if len(content) > max_bytes:
        raise _too_large(max_bytes)
    if size is not None and size != len(content):
        raise _bad("size", f"says {size} bytes but the content has {len(content)}")
    digest = hashlib.sha256(content).hexdigest()
    if data.sha256 is not None and data.sha256 != digest:
        raise _bad("sha256", f"does not match the content (which hashes to {digest})")
    return NewAttachment(
        filename=filename,
        mime_type=mime,
        size=len(content),
        content=content,
        sha256=digest,
        metadata=metadata,
    )


def content_disposition(filename: str) -> str:
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class AttachmentController(Controller):
    path = "/intents/{intent_id:str}/attachments"
    tags = ["attachments"]

    @post(
        "",
        status_code=HTTP_201_CREATED,
        request_max_body_size=None,  # capped by read_capped from the runtime setting
        summary="Add an attachment: inline base64 `content`, or a `storage_url`/`url`",
        description="Body: AttachmentCreate (filename, mime_type|content_type, size|size_bytes,"
        " storage_url|url or content, sha256, metadata). 413 beyond attachment_max_bytes.",
        operation_class=json_body_operation(AttachmentCreate),
    )
    async def add(
        self,
        request: Request,
        store: NamedDependency[Store],
        intent_id: FromPath[str],
        agent_id: AgentIdHeader = None,
    ) -> Attachment:
        max_bytes = request.app.state.settings.attachment_max_bytes
        body = await read_capped(request, body_cap(max_bytes), max_bytes)
        attachment = checked_attachment(decode_body(request, body), max_bytes)
        return await store.add_attachment(intent_id, attachment, actor_of(agent_id))

    @get("", summary="An intent's attachments, oldest first")
    async def list_attachments(
        self,
        request: Request,
        store: NamedDependency[Store],
        intent_id: FromPath[str],
        offset: Offset = 0,
    ) -> AttachmentList:
        fetch = partial(store.list_attachments, intent_id)
        page = await page_of(fetch, request, offset)
        return AttachmentList(attachments=page.items, next_offset=page.next_offset)

    @get(
        "/{attachment_id:str}/content",
        summary="The stored bytes, with their mime type",
        responses={
            200: ResponseSpec(
                data_container=Any,
                media_type="*/*",
                description="The bytes as stored, served with the mime type given at upload",
                generate_examples=False,
            )
        },
    )
    async def content(
        self, store: NamedDependency[Store], intent_id: FromPath[str], attachment_id: FromPath[str]
    ) -> Response[bytes]:
        filename, mime, content = await store.attachment_content(intent_id, attachment_id)
        return Response(
            content,
            media_type=mime,
            headers={
                "Content-Disposition": content_disposition(filename),
                # stored HTML or SVG must never run as this server's page
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "sandbox",
            },
        )

    @delete("/{attachment_id:str}", status_code=HTTP_204_NO_CONTENT, summary="Delete")
    async def remove(
        self,
        store: NamedDependency[Store],
        intent_id: FromPath[str],
        attachment_id: FromPath[str],
        agent_id: AgentIdHeader = None,
    ) -> None:
        await store.delete_attachment(intent_id, attachment_id, actor_of(agent_id))


CONTROLLERS = [AttachmentController]
