"""The test vectors of spec/federation.md §3 and §5 (RFC 8032 test seeds), made with the
SDK's own functions."""

from __future__ import annotations

KEYS = {
    "A": (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        "z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw",
    ),
    "B": (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "PUAXw+hDiVqStwqnTRt+vJyYLM8uxJaMwM1V8Sr0Zgw=",
        "z6MkiaMbhXHNA4eJVCCj8dbzKzTgYDKf6crKgHVHid1F1WCT",
    ),
    "C": (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "/FHNjmIYoaONpH7QAjDwWAgW7RO6MwOsXeuRFUiQgCU=",
        "z6MkwSD8dBdqcXQzKJZQFPy2hh2izzxskndKCjdmC2dBpfME",
    ),
}

E1_C = (
    '{"dispatch_id":"dispatch_001","intent_constraints":{},"intent_description":"",'
    '"intent_id":"intent_01","intent_state":{},"intent_title":"Analyze dataset",'
    '"source_server":"https://server-a.example.com","target_server":"https://server-b.example.com"}'
)
E1_SIG = "teU3coaabOiFeTr2I/O+Ufe6Ewzeg3RYVggeVlFsK4okZB0LdK1lnbC7JX/ztoX9QApUcFSe2cUe7XMXFuINCg=="

E2_C = (
    '{"agent_id":"remote-analyzer","callback_url":"http://127.0.0.1:8001/api/v1/federation/'
    'callback","created_at":"2026-01-01T00:00:00+00:00","delegation_scope":{"denied_operations"'
    ':[],"max_delegation_depth":1,"permissions":["state.patch","events.log"]},"dispatch_id":'
    '"7f0c2a9e-4b1d-4c3e-9a55-0e6f1d2c3b4a","federation_policy":{"budget":{"cost_ceiling_usd":'
    '5.0},"governance":{"require_human_approval":false},"observability":{"trace":true}},'
    '"idempotency_key":"7f0c2a9e-4b1d-4c3e-9a55-0e6f1d2c3b4a","intent_constraints":{"deadline"'
    ':"2026-03-01"},"intent_description":"Run \\"financial\\" analysis\\non Q1","intent_id":'
    '"3d9b7c1e-0000-4000-8000-000000000001","intent_state":{"alpha":{"big":1e+21,"list":'
    '[true,null,"x"],"ratio":0.1,"tiny":1e-07,"whole":2.0},"zeta":1},"intent_title":'
    '"An\\u00e1lise Q1 \\u2014 \\u2713 \\ud83d\\ude80","source_server":"http://127.0.0.1:8001",'
    '"target_server":"http://127.0.0.1:8002","trace_context":{"trace_id":"trace-abc"}}'
)
E2_SIG = "xwCngIqzdvzdDSKKMqisVmVZa7Nb8mshb61SAeP3ZpZqecEy/Nw6yQUip4snLxXoRx6AleY2kj2/5KXH20xNCg=="

C1_C = (
    '{"dispatch_id":"7f0c2a9e-4b1d-4c3e-9a55-0e6f1d2c3b4a","event_type":"state_delta",'
    '"idempotency_key":"accept-7f0c2a9e-4b1d-4c3e-9a55-0e6f1d2c3b4a","state_delta":{"status":'
    '"accepted"},"timestamp":"2026-01-01T00:00:01+00:00","trace_id":"trace-abc"}'
)
C1_SIG = "QMCnO/R8Wa4ykIjhgZ6No5nzozBaJBJAF2zG7Z3rfXoHCrqev3tw9J2QWP3EigKjTtDRnDUERX2wjV18FpthCA=="

VECTORS = {"E1": ("A", E1_C, E1_SIG), "E2": ("A", E2_C, E2_SIG), "C1": ("B", C1_C, C1_SIG)}


def seed(name: str) -> bytes:
    return bytes.fromhex(KEYS[name][0])


U1_P = (
    '{"aud": "did:web:server-b.example.com", "exp": 1767229200, "iss": '
    '"did:web:server-a.example.com", "nbf": 1767225600, "nonce": "AAECAwQFBgcICQoLDA0ODw==", '
    '"prf": [], "scope": {"denied_operations": ["intent.delete"], "max_delegation_depth": 2, '
    '"permissions": ["state.patch", "events.log", "intent.create"]}}'
)
U1_S = "RwGeGYWPLT5bKo8jWf3RgIZg1bNhMLvBWsabcfBQfjicnIfxkHPBlSnmqdOH_eDyB73Y31lQqHxM9glBnz1UDQ"
U2_P = (
    '{"aud": "did:web:server-c.example.com", "exp": 1767229200, "iss": '
    '"did:web:server-b.example.com", "nbf": 1767225660, "nonce": "EBESExQVFhcYGRobHB0eHw==", '
    '"prf": ["<U1>"], "scope": {"denied_operations": ["events.delete", "intent.delete"], '
    '"max_delegation_depth": 1, "permissions": ["events.log", "state.patch"]}}'
)
U2_S = "KAZghjvTyvhWq90oYWebaWR8ZMGbA9Yw9k93ke3NGeBsAI6NCHHa-l5l5TDCEOapiE91kDz36G5iIS_d-9b4Bg"
U2_SDK_PRF0_S = (
    "PO86A91Fgn0d3u38FLzlcY0bjIu-lTsCKoYi9skU1KWAsh391EgZvqtIwQKKwndlxoVc4DHCfbX-EJQtiJKoAA"
)
DID = {n: f"did:web:server-{n.lower()}.example.com" for n in "ABC"}
