"""Parsing and resolving the console's config file."""

from __future__ import annotations

import pytest

from openintent_tui.contexts import (
    ConfigError,
    ConsoleConfig,
    connections,
    load_config,
    parse_config,
    resolve,
)

EXAMPLE = """
default_context = "prod"

[contexts.local]
url = "http://127.0.0.1:8000/"
api_key = "local-key"

[contexts.prod]
url = "https://oi.example.test"
api_key_env = "PROD_KEY"
operator = "alice"
read_only = true
color = "red"

[keys]
"app.help" = "question_mark,f1"
"""


def test_full_example_resolves():
    config = parse_config(EXAMPLE)
    assert config.default_context == "prod"
    assert config.keys == {"app.help": "question_mark,f1"}
    prod = resolve(config, "prod", {"PROD_KEY": "secret"})
    assert (prod.name, prod.url, prod.api_key, prod.operator) == (
        "prod",
        "https://oi.example.test",
        "secret",
        "alice",
    )
    assert prod.read_only and prod.color == "red" and not prod.embedded
    local = resolve(config, "local", {})
    assert (local.url, local.api_key, local.operator, local.read_only) == (
        "http://127.0.0.1:8000",
        "local-key",
        "operator",
        False,
    )


def test_missing_key_variable_is_an_error_only_when_strict():
    config = parse_config(EXAMPLE)
    with pytest.raises(ConfigError, match="PROD_KEY is not set"):
        resolve(config, "prod", {})
    assert connections(config, {})["prod"].api_key is None


def test_unknown_context_names_the_known_ones():
    with pytest.raises(ConfigError, match="known: local, prod"):
        resolve(parse_config(EXAMPLE), "staging", {})


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("[contexts.a]\nurl = 'ftp://x'", "must start with http"),
        ("[contexts.a]\nurl = 'http://x'\napi_key = 'k'\napi_key_env = 'K'", "not both"),
        ("[contexts.a]\nurl = 'http://x'\nread_only = 'yes'", "Expected `bool`"),
        ("[contexts.a]\nurl = 'http://x'\npassword = 'k'", "unknown field `password`"),
        ("[contexts.a]\napi_key = 'k'", "missing required field `url`"),
        ("default_context = 'b'\n[contexts.a]\nurl = 'http://x'", "default_context 'b'"),
        ("[contexts.a\nurl = 'http://x'", "not valid TOML"),
    ],
)
def test_invalid_files_say_why(text, complaint):
    with pytest.raises(ConfigError, match=complaint):
        parse_config(text, "cfg.toml")


def test_load_missing_file_is_empty(tmp_path):
    assert load_config(tmp_path / "absent.toml") == ConsoleConfig()
    path = tmp_path / "config.toml"
    path.write_text(EXAMPLE)
    assert set(load_config(path).contexts) == {"local", "prod"}
