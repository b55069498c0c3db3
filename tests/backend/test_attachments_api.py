"""Attachments (RFC-0005) against the real server: stored content, URL references, errors."""

from __future__ import annotations

import base64
import hashlib

import pytest

from tests.support import run_server


def new_intent(api) -> str:
    return api.post("/api/v1/intents", json={"title": "With files"}).json()["id"]


def events_of(api, intent_id: str) -> list[dict]:
    return api.get(f"/api/v1/intents/{intent_id}/events").json()["events"]


def test_inline_content_is_stored_hashed_listed_and_served(api):
    intent_id = new_intent(api)
    content = b"%PDF-1.7 not really\x00\xff"
    response = api.post(
        f"/api/v1/intents/{intent_id}/attachments",
        json={
            "filename": "report é.pdf",
            "mime_type": "application/pdf",
            "content": base64.b64encode(content).decode(),
            "metadata": {"pages": 2},
        },
    )
    assert response.status_code == 201, response.text
    attachment = response.json()
    assert attachment["size"] == len(content)
    assert attachment["sha256"] == hashlib.sha256(content).hexdigest()
    assert attachment["stored"] is True
    assert attachment["uploaded_by"] == attachment["created_by"] == "tester"
    assert attachment["createdAt"] == attachment["created_at"]
    assert attachment["created_at"].endswith("+00:00")
    assert attachment["metadata"] == {"pages": 2}
    assert attachment["storage_url"] == (
        f"/api/v1/intents/{intent_id}/attachments/{attachment['id']}/content"
    )

    fetched = api.get(attachment["storage_url"])
    assert fetched.status_code == 200
    assert fetched.content == content
    assert fetched.headers["content-type"].startswith("application/pdf")
    assert fetched.headers["x-content-type-options"] == "nosniff"
    assert "filename*=UTF-8''report%20%C3%A9.pdf" in fetched.headers["content-disposition"]

    listed = api.get(f"/api/v1/intents/{intent_id}/attachments").json()["attachments"]
    assert [a["id"] for a in listed] == [attachment["id"]]
    added = [e for e in events_of(api, intent_id) if e["event_type"] == "attachment_added"]
    assert len(added) == 1 and added[0]["payload"]["attachment_id"] == attachment["id"]
    assert added[0]["payload"]["sha256"] == attachment["sha256"]


def test_both_sdk_shapes_of_url_references(api):
    intent_id = new_intent(api)
    sync_shape = api.post(
        f"/api/v1/intents/{intent_id}/attachments",
        json={
            "filename": "a.jpg",
            "mime_type": "image/jpeg",
            "size": 245000,
            "storage_url": "https://storage.example.com/a.jpg",
            "metadata": {"width": 10},
        },
    )
    async_shape = api.post(
        f"/api/v1/intents/{intent_id}/attachments",
        json={
            "filename": "b.png",
            "content_type": "image/png",
            "url": "http://storage.example.com/b.png",
            "size_bytes": 12,
        },
    )
    assert sync_shape.status_code == async_shape.status_code == 201
    a, b = sync_shape.json(), async_shape.json()
    assert (a["mime_type"], a["size"], a["storage_url"], a["stored"]) == (
        "image/jpeg",
        245000,
        "https://storage.example.com/a.jpg",
        False,
    )
    assert (b["mime_type"], b["size"], b["storage_url"]) == (
        "image/png",
        12,
        "http://storage.example.com/b.png",
    )
    assert "sha256" not in b
    # a reference has no bytes here
    missing = api.get(f"/api/v1/intents/{intent_id}/attachments/{a['id']}/content")
    assert missing.status_code == 404
    assert "reference" in missing.json()["message"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"filename": "x", "storage_url": "ftp://host/x"}, "storage_url"),
        ({"filename": "x", "storage_url": "file:///etc/passwd"}, "storage_url"),
        ({"filename": "x", "storage_url": "javascript:alert(1)"}, "storage_url"),
        ({"filename": "x"}, "content"),
        ({"filename": "x", "content": "aGk=", "url": "https://h/x"}, "content"),
        ({"filename": "x", "content": "not base64!"}, "content"),
        ({"filename": "x", "content": "aGk=", "size": 3}, "size"),
        ({"filename": "x", "content": "aGk=", "sha256": "0" * 64}, "sha256"),
        ({"filename": "x", "url": "https://h/x", "sha256": "XYZ"}, "sha256"),
        ({"filename": "", "url": "https://h/x"}, "filename"),
        ({"filename": "a\nb", "url": "https://h/x"}, "filename"),
        ({"filename": "x", "url": "https://h/x", "mime_type": "nonsense"}, "mime_type"),
        ({"filename": "x", "url": "https://h/x", "size": -1}, "size"),
        ({"filename": "x", "url": "https://h/x", "size_bytes": 10**30}, "size_bytes"),
        ({"filename": "x", "url": "https://h/x", "mime_type": "a/b", "content_type": "c/d"}, None),
        ({"filename": "x", "url": "https://h/x", "bogus": 1}, None),
        ({"url": "https://h/x"}, None),
    ],
)
def test_bad_attachments_are_400_and_change_nothing(api, body, field):
    intent_id = new_intent(api)
    response = api.post(f"/api/v1/intents/{intent_id}/attachments", json=body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["detail"] and error["message"]
    if field:
        assert field in error["message"] or any(e.get("field") == field for e in error["errors"])
    assert api.get(f"/api/v1/intents/{intent_id}/attachments").json()["attachments"] == []
    assert [e["event_type"] for e in events_of(api, intent_id)] == ["intent_created"]


def test_malformed_json_is_400(api):
    intent_id = new_intent(api)
    response = api.post(
        f"/api/v1/intents/{intent_id}/attachments",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["message"].startswith("Invalid JSON body")


def test_content_beyond_the_limit_is_413(tmp_path):
    with run_server(tmp_path / "small.db", attachment_max_bytes=1000) as live, live.client() as api:
        intent_id = new_intent(api)
        url = f"/api/v1/intents/{intent_id}/attachments"
        exact = api.post(
            url, json={"filename": "ok", "content": base64.b64encode(b"a" * 1000).decode()}
        )
        assert exact.status_code == 201, exact.text
        over = api.post(
            url, json={"filename": "big", "content": base64.b64encode(b"a" * 1001).decode()}
        )
        assert over.status_code == 413
        assert over.json()["message"] == "Attachment content is limited to 1000 bytes"
        # a body far beyond any base64 of the limit is refused from its length alone
        huge = api.post(url, json={"filename": "huge", "content": "A" * 200_000})
        assert huge.status_code == 413
        assert [a["filename"] for a in api.get(url).json()["attachments"]] == ["ok"]


def test_the_default_limit_is_10_mib_and_bodies_above_1_mib_pass(api):
    intent_id = new_intent(api)
    content = bytes(range(256)) * 8192  # 2 MiB: above the app-wide body limit of 1 MiB
    response = api.post(
        f"/api/v1/intents/{intent_id}/attachments",
        json={"filename": "blob.bin", "content": base64.b64encode(content).decode()},
    )
    assert response.status_code == 201, response.text
    assert response.json()["mime_type"] == "application/octet-stream"
    assert api.get(response.json()["storage_url"]).content == content


def test_unknown_intent_and_attachment_are_404(api):
    assert (
        api.post(
            "/api/v1/intents/nope/attachments", json={"filename": "x", "url": "https://h/x"}
        ).status_code
        == 404
    )
    assert api.get("/api/v1/intents/nope/attachments").status_code == 404
    intent_id = new_intent(api)
    assert api.get(f"/api/v1/intents/{intent_id}/attachments/nope/content").status_code == 404
    assert api.delete(f"/api/v1/intents/{intent_id}/attachments/nope").status_code == 404


def test_delete_checks_the_path_intent_and_logs_a_comment(api):
    owner, other = new_intent(api), new_intent(api)
    attachment = api.post(
        f"/api/v1/intents/{owner}/attachments",
        json={"filename": "x.txt", "mime_type": "text/plain", "content": "aGk="},
    ).json()
    wrong = api.delete(f"/api/v1/intents/{other}/attachments/{attachment['id']}")
    assert wrong.status_code == 404
    assert len(api.get(f"/api/v1/intents/{owner}/attachments").json()["attachments"]) == 1

    deleted = api.delete(f"/api/v1/intents/{owner}/attachments/{attachment['id']}")
    assert deleted.status_code == 204
    assert api.get(f"/api/v1/intents/{owner}/attachments").json()["attachments"] == []
    assert api.get(attachment["storage_url"]).status_code == 404
    assert api.delete(f"/api/v1/intents/{owner}/attachments/{attachment['id']}").status_code == 404
    last = events_of(api, owner)[-1]
    assert last["event_type"] == "comment"
    assert last["payload"]["kind"] == "attachment_deleted"
    assert last["payload"]["attachment_id"] == attachment["id"]


@pytest.mark.parametrize("mime", ["application/json", "text/html", "text/plain; charset=utf-8"])
def test_content_is_served_byte_for_byte_whatever_the_type(api, mime):
    intent_id = new_intent(api)
    content = b'{"not": "re-encoded"}  <script>x</script>\n'
    attachment = api.post(
        f"/api/v1/intents/{intent_id}/attachments",
        json={"filename": "f", "mime_type": mime, "content": base64.b64encode(content).decode()},
    ).json()
    fetched = api.get(attachment["storage_url"])
    assert fetched.content == content
    assert fetched.headers["content-type"].startswith(mime.split(";")[0])
    assert fetched.headers["content-security-policy"] == "sandbox"
