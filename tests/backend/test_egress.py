"""The egress guard: private and special addresses are refused at creation and at delivery.

No test sends traffic anywhere but loopback: refused addresses are refused before any
connection, and the only addresses contacted are our own loopback receivers."""

from __future__ import annotations

import ipaddress

import pytest

from backend.outbound.egress import EgressPolicy, EgressRefused, guarded_post, post_client
from tests.backend.webhook_receiver import Receiver, free_port, serving, wait_until
from tests.support import run_server

REFUSED_ADDRESSES = [
    "127.0.0.1",  # loopback
    "::1",
    "10.0.0.1",  # private
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",  # link-local: cloud metadata
    "fd00:ec2::254",  # unique local (AWS metadata over IPv6)
    "fe80::1",
    "100.64.0.1",  # CGNAT
    "0.0.0.0",  # unspecified
    "::",
    "224.0.0.1",  # multicast
    "ff02::1",
    "240.0.0.1",  # reserved
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:10.0.0.1",
    # IPv6 that embeds an IPv4 destination is judged by that IPv4 address
    "64:ff9b::7f00:1",  # NAT64 well-known prefix -> 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 -> 169.254.169.254
    "64:ff9b::10.0.0.1",
    "64:ff9b:1::7f00:1",  # NAT64 local-use prefix: where the IPv4 sits is not knowable
    "64:ff9b:1:5db8:d8:2200::",  # ... even with a public-looking IPv4 in it
    "2002:7f00:1::",  # 6to4 -> 127.0.0.1
    "2002:a00:1::1",  # 6to4 -> 10.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 -> 169.254.169.254
    "::127.0.0.1",  # IPv4-compatible
    "::10.0.0.1",
    "::169.254.169.254",
    "2001:0:5db8:d822:0:0:80ff:fffe",  # Teredo (client 127.0.0.1)
]


@pytest.mark.parametrize("address", REFUSED_ADDRESSES)
def test_special_addresses_are_refused_by_default(address):
    assert not EgressPolicy().address_allowed(ipaddress.ip_address(address))


def test_public_addresses_pass_and_the_allowlist_opens_ranges():
    policy = EgressPolicy(["127.0.0.0/8"])
    assert EgressPolicy().address_allowed(ipaddress.ip_address("93.184.216.34"))
    assert EgressPolicy().address_allowed(ipaddress.ip_address("2606:4700::1111"))
    assert policy.address_allowed(ipaddress.ip_address("127.0.0.2"))
    assert policy.address_allowed(ipaddress.ip_address("::ffff:127.0.0.1"))
    assert not policy.address_allowed(ipaddress.ip_address("10.0.0.1"))


@pytest.mark.parametrize("address", ["64:ff9b::5db8:d822", "2002:5db8:d822::1", "::93.184.216.34"])
def test_embedded_public_ipv4_passes(address):
    """93.184.216.34 reached through NAT64, 6to4 or the IPv4-compatible form."""
    assert EgressPolicy().address_allowed(ipaddress.ip_address(address))


def test_the_allowlist_applies_to_the_embedded_ipv4_address():
    policy = EgressPolicy(["10.0.0.0/8"])
    assert policy.address_allowed(ipaddress.ip_address("64:ff9b::a00:1"))
    assert policy.address_allowed(ipaddress.ip_address("2002:a00:1::1"))
    assert not policy.address_allowed(ipaddress.ip_address("64:ff9b::7f00:1"))
    assert EgressPolicy(["64:ff9b:1::/48"]).address_allowed(
        ipaddress.ip_address("64:ff9b:1::7f00:1")
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:9/",  # a name resolving to loopback
        "http://2130706433/",  # 127.0.0.1 as one integer
        "http://0x7f000001/",
        "http://[::ffff:127.0.0.1]/",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "ftp://127.0.0.1/",
        "file:///etc/passwd",
        "http://user:pw@127.0.0.1/",
        "http:///nohost",
    ],
)
async def test_urls_to_special_addresses_are_refused_before_connecting(url):
    with pytest.raises(EgressRefused):
        await EgressPolicy().check(url)


async def test_guarded_post_connects_to_the_checked_address_and_caps_the_answer():
    receiver = Receiver(free_port(), status=200, body=b"x" * 200_000)
    with serving(receiver):
        async with post_client(5, 4, "test") as client:
            response = await guarded_post(
                client,
                EgressPolicy(["127.0.0.0/8"]),
                f"http://localhost:{receiver.port}/hook",
                b"{}",
                {"content-type": "application/json"},
                max_response_bytes=1000,
            )
            with pytest.raises(EgressRefused):
                await guarded_post(
                    client,
                    EgressPolicy(),
                    receiver.url,
                    b"{}",
                    {},
                    max_response_bytes=1000,
                )
    assert response.status_code == 200
    assert len(response.body) == 1000
    assert len(receiver.requests) == 1  # the refused one never connected
    assert receiver.requests[0].headers["host"] == f"localhost:{receiver.port}"


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/hook",
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://[64:ff9b::7f00:1]:9/hook",
        "http://[2002:7f00:1::]:9/hook",
        "http://[::127.0.0.1]:9/hook",
    ],
)
def test_private_webhook_urls_are_refused_at_creation(tmp_path, url):
    with run_server(tmp_path / "oi.db", webhook_allow_cidrs=[]) as live, live.client() as api:
        response = api.post("/api/v1/subscriptions", json={"webhook_url": url})
        assert response.status_code == 400, response.text
        assert response.json()["errors"] == [{"field": "webhook_url"}]
        assert "not a public address" in response.json()["message"]
        assert api.get("/api/v1/subscriptions").json()["subscriptions"] == []


def test_private_webhook_urls_are_refused_at_delivery(tmp_path):
    """Created while loopback was allowed; the allowlist is then emptied: the delivery is
    refused by the guard at send time and the receiver never hears from us."""
    db = tmp_path / "oi.db"
    receiver = Receiver(free_port())
    with run_server(db) as live, live.client() as api:
        intent_id = api.post("/api/v1/intents", json={"title": "t"}).json()["id"]
        sub = api.post(
            "/api/v1/subscriptions",
            json={"intent_id": intent_id, "webhook_url": receiver.url},
        ).json()
    with (
        serving(receiver),
        run_server(db, webhook_allow_cidrs=[]) as live,
        live.client() as api,
    ):
        posted = api.post(
            f"/api/v1/intents/{intent_id}/events", json={"event_type": "comment", "payload": {}}
        )
        assert posted.status_code == 201

        def finished() -> list[dict]:
            page = api.get(f"/api/v1/subscriptions/{sub['id']}/deliveries").json()
            return [d for d in page["deliveries"] if d["status"] != "pending"]

        (delivery,) = wait_until(finished, "the refused delivery to be recorded")
    assert delivery["status"] == "failed"  # refusal is permanent: no retries
    assert delivery["attempts"] == 1
    assert "refused by the egress guard" in delivery["last_error"]
    assert receiver.requests == []


async def test_no_proxy_from_the_environment(monkeypatch):
    """A proxy would connect on our behalf to wherever the name resolves there: with a dead
    proxy configured, the guarded post still goes straight to the checked address."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    receiver = Receiver(free_port())
    with serving(receiver):
        async with post_client(5, 4, "test") as client:
            response = await guarded_post(
                client,
                EgressPolicy(["127.0.0.0/8"]),
                receiver.url,
                b"{}",
                {},
                max_response_bytes=10,
            )
    assert response.status_code == 204
    assert len(receiver.requests) == 1
