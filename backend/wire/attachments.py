"""RFC-0005 attachments: a stored file (inline base64 content) or a reference to a URL."""

from __future__ import annotations

from typing import Annotated

import msgspec

from .base import JSONObject, Request, Response
from .limits import Name, Title, Url


class Attachment(Response, omit_defaults=True):
    id: str
    intent_id: str
    filename: str
    mime_type: str
    size: int
    storage_url: str
    """The content URL (a server path, `/api/v1/intents/{id}/attachments/{aid}/content`)
    for stored content; the referenced URL otherwise."""
    stored: bool
    """True when this server holds the bytes (fetch them from `storage_url`)."""
    metadata: JSONObject
    uploaded_by: str | None
    created_by: str | None
    created_at: str
    created_at_camel: str = msgspec.field(name="createdAt", default="")
    """The SDK reads attachment timestamps only from `createdAt`."""
    sha256: str | None = None


Size = Annotated[int, msgspec.Meta(ge=0, le=2**53)]


class AttachmentCreate(Request):
    """Both SDK clients' shapes: sync `{filename, mime_type, size, storage_url, metadata}`,
    async `{filename, content_type, url, size_bytes}`; or inline `content` (base64) instead
    of a URL, which the server stores and hashes."""

    filename: Title
    mime_type: Name | None = None
    content_type: Name | None = None
    size: Size | None = None
    size_bytes: Size | None = None
    storage_url: Url | None = None
    url: Url | None = None
    content: str | None = None
    """Base64 (standard alphabet, padded) of the file's bytes."""
    sha256: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    """Optional hex digest: checked against inline content, kept for a URL reference."""
    metadata: JSONObject | None = None


class AttachmentList(Response):
    attachments: list[Attachment]
    next_offset: int | None = None
    """Pass as `offset` for the next page (1000 items, or fewer at the response budget);
    null at the end."""
