"""The console's config file: named server contexts and key bindings.

`config.toml` in the platform config dir (`backend.settings.config_dir()`):

    default_context = "local"

    [contexts.local]
    url = "http://127.0.0.1:8000"
    api_key_env = "OPENINTENT_API_KEY"   # or api_key = "..." (keep the file mode 0600)
    operator = "alice"                    # sent as X-Agent-ID: who the server records
    read_only = false
    color = "green"

    [keys]                                # binding id = key(s), comma-separated
    "app.help" = "question_mark,f1"
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

import msgspec

from backend.settings import config_dir

CONFIG_FILE = "config.toml"


class ConfigError(Exception):
    """The config file or a context in it is unusable; the message says where and why."""


class ContextConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    url: str
    api_key: str | None = None
    api_key_env: str | None = None
    """Name of the environment variable holding the key, so the file holds no secret."""
    operator: str = "operator"
    read_only: bool = False
    color: str | None = None


class ConsoleConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    default_context: str | None = None
    contexts: dict[str, ContextConfig] = msgspec.field(default_factory=dict)
    keys: dict[str, str] = msgspec.field(default_factory=dict)
    """Binding id -> key(s), for `App.set_keymap`."""


class ConnectionInfo(msgspec.Struct, kw_only=True, frozen=True):
    """Everything the console needs to talk to one server."""

    name: str
    url: str
    api_key: str | None
    operator: str = "operator"
    read_only: bool = False
    color: str | None = None
    embedded: bool = False
    """The bundled server this console started (or reused) on loopback."""


API_PREFIX = "/api/v1"


def server_base_url(url: str) -> str:
    """The server's base URL from what an operator pastes: `serve` prints `…/api/v1`, and the
    client adds that prefix itself, so a trailing `/api/v1` (or `/`) is dropped."""
    url = url.strip().rstrip("/")
    if url.endswith(API_PREFIX):
        url = url[: -len(API_PREFIX)].rstrip("/")
    return url


def config_path() -> Path:
    return config_dir() / CONFIG_FILE


def _check(config: ConsoleConfig, where: str) -> ConsoleConfig:
    for name, context in config.contexts.items():
        if not context.url.startswith(("http://", "https://")):
            raise ConfigError(f"{where}: contexts.{name}.url must start with http:// or https://")
        if context.api_key and context.api_key_env:
            raise ConfigError(f"{where}: contexts.{name}: set api_key or api_key_env, not both")
        if not context.operator.strip():
            raise ConfigError(f"{where}: contexts.{name}.operator must not be empty")
    if config.default_context and config.default_context not in config.contexts:
        raise ConfigError(
            f"{where}: default_context {config.default_context!r} is not a [contexts.*] table"
        )
    return config


def parse_config(text: str, where: str = CONFIG_FILE) -> ConsoleConfig:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from None
    try:
        config = msgspec.convert(document, ConsoleConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return _check(config, where)


def load_config(path: Path | None = None) -> ConsoleConfig:
    """The config file, or an empty config when it does not exist."""
    path = path or config_path()
    if not path.exists():
        return ConsoleConfig()
    return parse_config(path.read_text(encoding="utf-8"), str(path))


def _key_of(name: str, context: ContextConfig, environ: Mapping[str, str], strict: bool):
    if context.api_key_env:
        value = environ.get(context.api_key_env)
        if value is None and strict:
            raise ConfigError(
                f"context {name!r}: environment variable {context.api_key_env} is not set"
            )
        return value
    return context.api_key


def resolve(
    config: ConsoleConfig,
    name: str,
    environ: Mapping[str, str] | None = None,
    *,
    strict: bool = True,
) -> ConnectionInfo:
    """The connection for context `name`; with `strict`, a missing key variable is an error."""
    environ = os.environ if environ is None else environ
    if name not in config.contexts:
        known = ", ".join(sorted(config.contexts)) or "none configured"
        raise ConfigError(f"no context {name!r} in {config_path()} (known: {known})")
    context = config.contexts[name]
    return ConnectionInfo(
        name=name,
        url=server_base_url(context.url),
        api_key=_key_of(name, context, environ, strict),
        operator=context.operator,
        read_only=context.read_only,
        color=context.color,
    )


def connections(
    config: ConsoleConfig, environ: Mapping[str, str] | None = None
) -> dict[str, ConnectionInfo]:
    """Every context, for `:ctx NAME`. Lenient: a context whose key variable is unset is
    still listed (it will answer 401 with a clear message) so one bad entry blocks nothing."""
    return {name: resolve(config, name, environ, strict=False) for name in config.contexts}
