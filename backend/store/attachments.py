"""The attachments part of the Store contract (RFC-0005)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import msgspec

from ..wire.attachments import Attachment
from .keyset import Slice


class NewAttachment(msgspec.Struct, kw_only=True, frozen=True):
    """A checked attachment, ready to store: `content` (bytes) or a URL `reference`."""

    filename: str
    mime_type: str
    size: int
    content: bytes | None = None
    reference: str | None = None
    sha256: str | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class AttachmentStore(ABC):
    @abstractmethod
    async def add_attachment(
        self, intent_id: str, attachment: NewAttachment, actor: str | None
    ) -> Attachment:
        """Raises NotFound for an unknown intent. Appends `attachment_added`."""

    @abstractmethod
    async def list_attachments(
        self,
        intent_id: str,
        *,
        offset: int = 0,
        limit: int | None = None,
        max_bytes: int | None = None,
        cursor: str | None = None,
    ) -> Slice[Attachment]:
        """Oldest first. Raises NotFound for an unknown intent.
        Paged: see `store.sqlite.core.read_keyset`."""

    @abstractmethod
    async def attachment_content(
        self, intent_id: str, attachment_id: str
    ) -> tuple[str, str, bytes]:
        """(filename, mime type, bytes). NotFound for an unknown intent or attachment, or one
        that is only a URL reference."""

    @abstractmethod
    async def delete_attachment(
        self, intent_id: str, attachment_id: str, actor: str | None
    ) -> None:
        """NotFound unless the attachment belongs to that intent."""
