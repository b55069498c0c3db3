"""Attachments on PostgreSQL: metadata in `attachments`, stored bytes (bytea) apart in
`attachment_contents`, so listing never reads them."""

from __future__ import annotations

from typing import Any

import asyncpg

from ...domain.clock import iso
from ...domain.errors import NotFound
from ...wire.attachments import Attachment
from ..attachments import AttachmentStore, NewAttachment
from ..keyset import Slice
from ..sqlite.attachments import content_path
from ..sqlite.core import dumps, loads, new_uid
from .core import PostgresCore, Tx, by_ord, read_keyset
from .intents import require_intent

ATTACHMENT_ORDER = by_ord("attachments")

ATTACHMENT_COLUMNS = (
    "id, intent_id, filename, mime_type, size, reference_url, sha256, metadata,"
    " uploaded_by, created_at"
)


def attachment_from_row(row: Any) -> Attachment:
    (id_, intent_id, filename, mime, size, reference, sha256, metadata, by, created) = row
    created_at = iso(created)
    return Attachment(
        id=id_,
        intent_id=intent_id,
        filename=filename,
        mime_type=mime,
        size=size,
        storage_url=reference or content_path(intent_id, id_),
        stored=reference is None,
        metadata=loads(metadata),
        uploaded_by=by,
        created_by=by,
        created_at=created_at,
        created_at_camel=created_at,
        sha256=sha256,
    )


def _missing(intent_id: str, attachment_id: str) -> NotFound:
    return NotFound(f"Attachment {attachment_id} not found on intent {intent_id}")


class PostgresAttachments(PostgresCore, AttachmentStore):
    async def add_attachment(
        self, intent_id: str, attachment: NewAttachment, actor: str | None
    ) -> Attachment:
        async def op(tx: Tx) -> Attachment:
            await require_intent(tx, intent_id)
            attachment_id = new_uid()
            row = await tx.fetchrow(
                f"INSERT INTO attachments ({ATTACHMENT_COLUMNS})"
                f" VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) RETURNING {ATTACHMENT_COLUMNS}",
                attachment_id,
                intent_id,
                attachment.filename,
                attachment.mime_type,
                attachment.size,
                attachment.reference,
                attachment.sha256,
                dumps(attachment.metadata),
                actor,
                tx.moment,
            )
            if attachment.content is not None:
                await tx.execute(
                    "INSERT INTO attachment_contents (attachment_id, content) VALUES ($1, $2)",
                    attachment_id,
                    attachment.content,
                )
            created = attachment_from_row(row)
            await tx.emit(
                intent_id,
                "attachment_added",
                actor,
                {
                    "attachment_id": attachment_id,
                    "filename": created.filename,
                    "mime_type": created.mime_type,
                    "size": created.size,
                    "stored": created.stored,
                    "storage_url": created.storage_url,
                    "sha256": created.sha256,
                },
            )
            return created

        return await self._write(op)

    async def list_attachments(
        self,
        intent_id: str,
        *,
        offset: int = 0,
        limit: int | None = None,
        max_bytes: int | None = None,
        cursor: str | None = None,
    ) -> Slice[Attachment]:
        async def read(conn: asyncpg.Connection) -> Slice[Attachment]:
            await require_intent(conn, intent_id)
            rows, more, next_cursor = await read_keyset(
                conn,
                ATTACHMENT_COLUMNS,
                "attachments",
                ["intent_id = $1"],
                (intent_id,),
                ATTACHMENT_ORDER,
                cursor=cursor,
                offset=offset,
                limit=limit,
                max_bytes=max_bytes,
            )
            return Slice([attachment_from_row(r) for r in rows], more, next_cursor)

        return await self._read(read)

    async def attachment_content(
        self, intent_id: str, attachment_id: str
    ) -> tuple[str, str, bytes]:
        async def read(conn: asyncpg.Connection) -> tuple[str, str, bytes]:
            await require_intent(conn, intent_id)
            row = await conn.fetchrow(
                "SELECT a.filename, a.mime_type, a.reference_url, c.content FROM attachments a"
                " LEFT JOIN attachment_contents c ON c.attachment_id = a.id"
                " WHERE a.id = $1 AND a.intent_id = $2",
                attachment_id,
                intent_id,
            )
            if row is None:
                raise _missing(intent_id, attachment_id)
            filename, mime, reference, content = row
            if content is None:
                raise NotFound(
                    f"Attachment {attachment_id} is a reference to {reference};"
                    " this server does not hold its content"
                )
            return filename, mime, bytes(content)

        return await self._read(read)

    async def delete_attachment(
        self, intent_id: str, attachment_id: str, actor: str | None
    ) -> None:
        async def op(tx: Tx) -> None:
            await require_intent(tx, intent_id)
            filename = await tx.fetchval(
                "DELETE FROM attachments WHERE id = $1 AND intent_id = $2 RETURNING filename",
                attachment_id,
                intent_id,
            )
            if filename is None:
                raise _missing(intent_id, attachment_id)
            # The SDK's EventType has no attachment-removed value: log it as a comment.
            await tx.emit(
                intent_id,
                "comment",
                actor,
                {
                    "kind": "attachment_deleted",
                    "attachment_id": attachment_id,
                    "filename": filename,
                    "message": f"Attachment {filename} deleted",
                },
            )

        await self._write(op)
