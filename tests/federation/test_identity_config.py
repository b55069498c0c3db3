"""Server identity (key file, did:web, rotation), federation settings and the YAML block."""

from __future__ import annotations

import stat
import textwrap

import pytest
from openintent.federation.security import ServerIdentity

from backend.cli import add_serve_arguments, settings_from_args
from backend.federation.config import FederationConfigError, load_federation_config
from backend.federation.identity import (
    IdentityError,
    did_from_url,
    load_identity,
    normalize_did,
    normalize_url,
    rotate_identity,
)
from backend.federation.service import Federation
from backend.federation.signing import sign_document, verify_document
from backend.settings import Settings, load_settings

from .vectors import KEYS, seed


def settings(tmp_path, **values) -> Settings:
    return Settings(db=str(tmp_path / "oi.db"), api_keys=["k"], **values)


def test_key_file_is_created_once_beside_the_database_mode_0600(tmp_path):
    first = Federation.from_settings(settings(tmp_path, federation_enabled=True))
    key_file = tmp_path / "oi.db.federation-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_bytes()) == 32
    again = Federation.from_settings(settings(tmp_path, federation_enabled=True))
    assert again.identity.public_key_b64 == first.identity.public_key_b64
    other_db = Federation.from_settings(
        Settings(db=str(tmp_path / "other.db"), api_keys=["k"], federation_enabled=True)
    )
    assert other_db.identity.public_key_b64 != first.identity.public_key_b64


def test_disabled_federation_creates_no_key(tmp_path):
    assert Federation.from_settings(settings(tmp_path)) is None
    assert not (tmp_path / "oi.db.federation-key").exists()


def test_an_sdk_saved_key_file_is_our_identity(tmp_path):
    sdk = ServerIdentity.generate("http://127.0.0.1:9")
    path = tmp_path / "sdk.key"
    sdk.save_key(str(path))
    fed = Federation.from_settings(
        settings(tmp_path, federation_enabled=True, federation_key_file=str(path))
    )
    loaded = ServerIdentity.from_key_file("http://127.0.0.1:9", str(path))
    assert fed.identity.public_key_b64 == loaded.public_key_b64 == sdk.public_key_b64


def test_rfc8032_seed_file_gives_the_vector_key(tmp_path):
    path = tmp_path / "a.key"
    path.write_bytes(seed("A"))
    identity = load_identity(path, "did:web:server-a.example.com")
    assert identity.public_key_b64 == KEYS["A"][1]
    doc = identity.did_document()
    assert doc["id"] == "did:web:server-a.example.com"
    (method,) = doc["verificationMethod"]
    assert method["id"] == "did:web:server-a.example.com#key-1"
    assert method["publicKeyBase64"] == KEYS["A"][1]
    assert method["publicKeyMultibase"] == KEYS["A"][2]
    assert doc["authentication"] == [method["id"]]


def test_a_key_file_of_the_wrong_size_is_refused(tmp_path):
    path = tmp_path / "bad.key"
    path.write_bytes(b"x" * 31)
    with pytest.raises(IdentityError):
        load_identity(path, "did:web:x")


def test_rotation_keeps_the_old_key_verifying_until_its_file_is_removed(tmp_path):
    path = tmp_path / "id.key"
    old = load_identity(path, "did:web:x")
    signed_before = {"a": 1}
    signed_before["signature"] = old.sign(signed_before)

    retired = rotate_identity(path)
    rotated = load_identity(path, "did:web:x")
    assert rotated.public_key_b64 != old.public_key_b64
    assert [k.public_b64 for k in rotated.keys] == [rotated.public_key_b64, old.public_key_b64]
    assert verify_document(rotated.public_keys, signed_before)  # old signatures still verify
    signed_after = {"b": 2}
    signed_after["signature"] = rotated.sign(signed_after)
    assert not verify_document(old.public_keys, signed_after)  # the new key signs
    assert len(rotated.did_document()["verificationMethod"]) == 2

    rotate_identity(path)
    assert len(load_identity(path, "did:web:x").keys) == 3
    retired.unlink()
    remaining = load_identity(path, "did:web:x")
    assert len(remaining.keys) == 2
    assert not verify_document(remaining.public_keys, signed_before)
    assert sign_document(remaining.signing_key.private, {"c": 3})


@pytest.mark.parametrize(
    ("url", "did"),
    [
        ("http://127.0.0.1:8001", "did:web:127.0.0.1:8001"),
        ("https://server-a.example.com/", "did:web:server-a.example.com"),
        ("https://example.com/tenants/a", "did:web:example.com/tenants/a"),
    ],
)
def test_did_from_url_is_the_sdks_form(url, did):
    assert did_from_url(url) == did == ServerIdentity(server_url=url).did


def test_did_and_url_normalisation():
    assert normalize_did("did:web:127.0.0.1%3A8001") == normalize_did("did:web:127.0.0.1:8001")
    assert normalize_did("did:web:Example.com/a") == normalize_did("did:web:example.com:a")
    assert normalize_did("did:web:a.example") != normalize_did("did:web:b.example")
    assert normalize_url("HTTP://Peer.Example.com:80/") == "http://peer.example.com:80"
    assert normalize_url("https://a.example/x/") == "https://a.example/x"


def test_federation_settings_defaults_env_and_flags(tmp_path):
    defaults = load_settings(environ={})
    assert defaults.federation_enabled is False
    assert defaults.federation_trust_policy == "allowlist"
    assert defaults.federation_peers == [] and defaults.egress_allow_cidrs == []
    assert defaults.federation_max_skew_seconds == 300
    assert defaults.federation_max_attempts == 5
    assert defaults.federation_did_web_http is False
    environ = {
        "OPENINTENT_FEDERATION_ENABLED": "true",
        "OPENINTENT_FEDERATION_TRUST_POLICY": "trustless",
        "OPENINTENT_FEDERATION_PEERS": "http://a.example, http://b.example",
        "OPENINTENT_EGRESS_ALLOW_CIDRS": "10.0.0.0/8",
        "OPENINTENT_WEBHOOK_ALLOW_CIDRS": "127.0.0.0/8,10.0.0.0/8",
        "OPENINTENT_FEDERATION_MAX_SKEW_SECONDS": "60",
    }
    from_env = load_settings(environ=environ)
    assert from_env.federation_enabled is True
    assert from_env.federation_trust_policy == "trustless"
    assert from_env.federation_peers == ["http://a.example", "http://b.example"]
    assert from_env.federation_max_skew_seconds == 60
    assert from_env.egress_cidrs == ["10.0.0.0/8", "127.0.0.0/8"]  # alias merged, no repeats
    with pytest.raises(SystemExit):
        load_settings(environ={"OPENINTENT_FEDERATION_TRUST_POLICY": "everyone"})

    import argparse

    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    args = parser.parse_args(["--federation", "--identity", str(tmp_path / "id.key")])
    flagged = settings_from_args(args)
    assert flagged.federation_enabled is True
    assert flagged.federation_key_file == str(tmp_path / "id.key")
    unflagged = settings_from_args(parser.parse_args([]))
    assert unflagged.federation_key_file == ""


def write_yaml(tmp_path, text: str):
    path = tmp_path / "federation.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_yaml_block_peers_pins_agents_and_policy(tmp_path):
    config_file = write_yaml(
        tmp_path,
        f"""
        openintent: "1.0"
        info: {{name: research}}
        federation:
          server_url: "http://127.0.0.1:8001/"
          aliases: ["http://127.0.0.2:8001"]
          trust_policy: open
          visibility_default: unlisted
          peers:
            - url: "https://partner-a.example.com/"
              relationship: upstream
              trust_policy: trustless
              did: "did:web:partner-a.example.com"
              public_key: "{KEYS["B"][1]}"
              api_key_env: PARTNER_A_KEY
            - "https://partner-c.example.com"
            - "did:web:partner-d.example.com"
          agents:
            - {{agent_id: data-collector, capabilities: [collect], visibility: public}}
            - {{agent_id: quiet}}
        """,
    )
    config = load_federation_config(
        settings(
            tmp_path,
            federation_enabled=True,
            federation_config=config_file,
            federation_peers=["https://partner-c.example.com/", "http://extra.example"],
        ),
        environ={"PARTNER_A_KEY": "secret-a"},
    )
    assert config.server_url == "http://127.0.0.1:8001"
    assert config.server_did == "did:web:127.0.0.1:8001"
    assert config.trust_policy == "open"  # the YAML overrides the setting
    assert config.own_urls() == {"http://127.0.0.1:8001", "http://127.0.0.2:8001"}
    assert [p.label for p in config.peers] == [
        "https://partner-a.example.com",
        "https://partner-c.example.com",
        "did:web:partner-d.example.com",
        "http://extra.example",
    ]
    partner = config.peers[0]
    assert (partner.relationship, partner.trust_policy, partner.api_key) == (
        "upstream",
        "trustless",
        "secret-a",
    )
    assert partner.public_key == KEYS["B"][1]
    assert config.find_peer(url="HTTPS://partner-a.example.com") is partner
    assert config.find_peer(did="did:web:partner-d.example.com").did
    assert config.find_peer(url="https://nobody.example") is None
    assert [(a.agent_id, a.visibility) for a in config.agents] == [
        ("data-collector", "public"),
        ("quiet", "unlisted"),
    ]


@pytest.mark.parametrize(
    "block",
    [
        "federation:\n  trust_policy: everyone\n",
        "federation:\n  peers:\n    - {url: 'http://a', public_key: 'c2hvcnQ='}\n",
        "federation:\n  peers:\n    - {url: 'http://a', api_key_env: NOT_SET_ANYWHERE}\n",
        "federation:\n  peers:\n    - {relationship: peer}\n",
        "federation:\n  visibility_default: secret\n",
        "federation: [unclosed\n",
    ],
)
def test_invalid_yaml_is_a_startup_error(tmp_path, block):
    path = tmp_path / "bad.yaml"
    path.write_text(block)
    with pytest.raises(FederationConfigError):
        load_federation_config(
            settings(tmp_path, federation_enabled=True, federation_config=str(path)), environ={}
        )


def test_rotate_identity_flag_retires_the_key_and_the_server_publishes_both(databases, capsys):
    from backend.cli import main
    from tests.support import run_server

    db = databases("r")
    with run_server(db, federation_enabled=True) as live, live.client() as api:
        before = api.get("/.well-known/openintent-federation.json").json()["public_key"]
    main(["--db", str(db), "--rotate-identity"])
    printed = capsys.readouterr().out
    assert before in printed and "retired" in printed
    with run_server(db, federation_enabled=True) as live, live.client() as api:
        manifest = api.get("/.well-known/openintent-federation.json").json()
        did_doc = api.get("/.well-known/did.json").json()
    assert manifest["public_key"] != before
    keys = [m["publicKeyBase64"] for m in did_doc["verificationMethod"]]
    assert keys == [manifest["public_key"], before]
