"""Attachments on SQLite: metadata in `attachments`, stored bytes in `attachment_contents`."""

from __future__ import annotations

import sqlite3

from ...domain.errors import NotFound
from ...wire.attachments import Attachment
from ..attachments import AttachmentStore, NewAttachment
from ..keyset import KeyColumns, Slice
from .core import RowidKey, SqliteCore, TimeKey, Tx, dumps, loads, new_uid, read_keyset
from .intents import fetch_intent, require_intent

ATTACHMENT_ORDER = KeyColumns("attachments", ("created_at", "rowid"), (TimeKey, RowidKey))

ATTACHMENT_COLUMNS = (
    "id, intent_id, filename, mime_type, size, reference_url, sha256, metadata,"
    " uploaded_by, created_at"
)


def content_path(intent_id: str, attachment_id: str) -> str:
    return f"/api/v1/intents/{intent_id}/attachments/{attachment_id}/content"


def attachment_from_row(row: tuple) -> Attachment:
    (id_, intent_id, filename, mime, size, reference, sha256, metadata, by, created) = row
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
        created_at=created,
        created_at_camel=created,
        sha256=sha256,
    )


def _missing(intent_id: str, attachment_id: str) -> NotFound:
    return NotFound(f"Attachment {attachment_id} not found on intent {intent_id}")


class SqliteAttachments(SqliteCore, AttachmentStore):
    async def add_attachment(
        self, intent_id: str, attachment: NewAttachment, actor: str | None
    ) -> Attachment:
        def op(tx: Tx) -> Attachment:
            require_intent(tx, intent_id)
            attachment_id = new_uid()
            tx.execute(
                f"INSERT INTO attachments ({ATTACHMENT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    attachment_id,
                    intent_id,
                    attachment.filename,
                    attachment.mime_type,
                    attachment.size,
                    attachment.reference,
                    attachment.sha256,
                    dumps(attachment.metadata),
                    actor,
                    tx.now,
                ),
            )
            if attachment.content is not None:
                tx.execute(
                    "INSERT INTO attachment_contents (attachment_id, content) VALUES (?, ?)",
                    (attachment_id, attachment.content),
                )
            row = tx.row(
                f"SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE id = ?", (attachment_id,)
            )
            created = attachment_from_row(row)
            tx.emit(
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
        def read(conn: sqlite3.Connection) -> Slice[Attachment]:
            fetch_intent(conn, intent_id)
            rows, more, next_cursor = read_keyset(
                conn,
                ATTACHMENT_COLUMNS,
                "attachments",
                ["intent_id = ?"],
                [intent_id],
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
        def read(conn: sqlite3.Connection) -> tuple[str, str, bytes]:
            fetch_intent(conn, intent_id)
            row = conn.execute(
                "SELECT a.filename, a.mime_type, a.reference_url, c.content FROM attachments a"
                " LEFT JOIN attachment_contents c ON c.attachment_id = a.id"
                " WHERE a.id = ? AND a.intent_id = ?",
                (attachment_id, intent_id),
            ).fetchone()
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
        def op(tx: Tx) -> None:
            require_intent(tx, intent_id)
            row = tx.one(
                "SELECT filename FROM attachments WHERE id = ? AND intent_id = ?",
                (attachment_id, intent_id),
            )
            if row is None:
                raise _missing(intent_id, attachment_id)
            tx.execute("DELETE FROM attachments WHERE id = ?", (attachment_id,))
            # The SDK's EventType has no attachment-removed value: log it as a comment.
            tx.emit(
                intent_id,
                "comment",
                actor,
                {
                    "kind": "attachment_deleted",
                    "attachment_id": attachment_id,
                    "filename": row[0],
                    "message": f"Attachment {row[0]} deleted",
                },
            )

        await self._write(op)
