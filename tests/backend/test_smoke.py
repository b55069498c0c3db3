"""The server starts, authenticates and round-trips an intent through its log."""


def test_create_patch_and_read_the_log(api):
    created = api.post("/api/v1/intents", json={"title": "Plan a trip"})
    assert created.status_code == 201, created.text
    intent = created.json()
    assert intent["status"] == "draft" and intent["version"] == 1
    assert created.headers["etag"] == '"1"'

    patched = api.post(
        f"/api/v1/intents/{intent['id']}/state",
        json={"patches": [{"op": "set", "path": "/hotel/city", "value": "Lisbon"}]},
        headers={"If-Match": "1"},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["state"] == {"hotel": {"city": "Lisbon"}}

    log = api.get(f"/api/v1/intents/{intent['id']}/events").json()["events"]
    assert [e["event_type"] for e in log] == ["intent_created", "state_patched"]
    assert [e["sequence"] for e in log] == [1, 2]
    assert all(e["actor"] == "tester" for e in log)


def test_missing_key_is_refused_with_a_json_body(server):
    with server.client() as client:
        response = client.get("/api/v1/intents", headers={"X-API-Key": "wrong"})
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid or missing API key"
