"""The official SDK's attachment methods, sync and async, against our server.

The two clients send different shapes (sync: mime_type/size/storage_url/metadata; async:
content_type/url/size_bytes), so each test calls the method the way its client defines it.
"""

from __future__ import annotations

import base64

import pytest
from openintent import NotFoundError, OpenIntentClient, ValidationError

from tests.interop.test_sdk_core import AGENT, new_intent, sdk  # noqa: F401 (fixture)


def add(sdk, intent_id: str, filename: str, mime: str, url: str, size: int):  # noqa: F811
    if isinstance(sdk, OpenIntentClient):
        return sdk.add_attachment(intent_id, filename, mime, size, url, metadata={"pages": 3})
    return sdk.add_attachment(intent_id, filename, mime, url, size_bytes=size)


def test_add_get_and_delete_attachments(sdk, api):  # noqa: F811
    intent = new_intent(sdk)
    first = add(sdk, intent.id, "doc.pdf", "application/pdf", "https://files.example/doc.pdf", 1024)
    assert first.id and first.intent_id == intent.id
    assert (first.filename, first.mime_type, first.size) == ("doc.pdf", "application/pdf", 1024)
    assert first.storage_url == "https://files.example/doc.pdf"
    assert first.uploaded_by == AGENT
    assert first.created_at is not None and first.created_at.tzinfo is not None
    if isinstance(sdk, OpenIntentClient):
        assert first.metadata == {"pages": 3}

    # inline content stored by our own API shows up through the SDK too
    stored = api.post(
        f"/api/v1/intents/{intent.id}/attachments",
        json={
            "filename": "a.txt",
            "mime_type": "text/plain",
            "content": base64.b64encode(b"hi").decode(),
        },
    ).json()
    listed = sdk.get_attachments(intent.id)
    assert [a.id for a in listed] == [first.id, stored["id"]]
    assert listed[1].size == 2 and listed[1].storage_url.endswith("/content")

    sdk.delete_attachment(intent.id, first.id)
    assert [a.id for a in sdk.get_attachments(intent.id)] == [stored["id"]]
    with pytest.raises(NotFoundError):
        sdk.delete_attachment(intent.id, first.id)

    events = sdk.get_events(intent.id)  # every logged type must be one the SDK can read
    assert [e.event_type.value for e in events].count("attachment_added") == 2


def test_attachment_errors_map_to_sdk_exceptions(sdk):  # noqa: F811
    with pytest.raises(NotFoundError):
        add(sdk, "missing", "x", "text/plain", "https://h/x", 1)
    with pytest.raises(NotFoundError):
        sdk.get_attachments("missing")
    intent = new_intent(sdk)
    with pytest.raises(ValidationError):
        add(sdk, intent.id, "x", "text/plain", "ftp://h/x", 1)
