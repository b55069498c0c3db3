"""Server settings: command-line flags > OPENINTENT_* environment > TOML file > defaults."""

from __future__ import annotations

import os
import re
import secrets
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import msgspec
import platformdirs

from .private_files import make_private_dirs, restrict_to_owner

APP_NAME = "openintent-tui"
ENV_PREFIX = "OPENINTENT_"
GENERATED_KEY_FILE = "api-key"


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def private_data_dir() -> Path:
    """The data dir, created 0700, or narrowed to its owner if an earlier version left it
    wider: it holds the generated key and the default database. Only this app's own
    directory is narrowed, never a parent of it."""
    path = data_dir()
    make_private_dirs(path)
    restrict_to_owner(path)
    return path


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


class Settings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: int = 8000
    db: str = ""
    """SQLite file; empty means `<data dir>/openintent.db`. A `sqlite:///path` URL is taken
    as that path; `postgresql://user@host:port/dbname` (or `postgres://`) selects the
    PostgreSQL store; any other URL scheme is refused (see `database_path`)."""
    api_keys: list[str] = msgspec.field(default_factory=list)
    """Plain keys accepted in X-API-Key. Hashed on load, never stored in data."""
    api_key_hashes: list[str] = msgspec.field(default_factory=list)
    """SHA-256 hex digests of accepted keys, for config files that should not hold secrets."""
    public_url: str = ""
    """How peers reach this server; defaults to http://host:port."""
    max_body_bytes: int = 1_048_576
    max_response_bytes: int = 8 * 1_048_576
    """A list page ends early (with its next offset/cursor) once it holds about this much."""
    max_json_depth: int = 64
    """Deepest nesting of arrays/objects in a JSON body, and in a stored state (400 beyond)."""
    attachment_max_bytes: int = 10 * 1_048_576
    max_lease_seconds: int = 86_400
    lease_sweep_seconds: float = 1.0
    reader_connections: int = 2
    postgres_claim_seconds: float = 10.0
    """PostgreSQL: how long a webhook delivery an instance claimed stays its own without
    renewal (renewed every third of it while the instance lives). When an instance dies,
    the others send what it had claimed after at most this long."""
    egress_allow_cidrs: list[str] = msgspec.field(default_factory=list)
    """Private or loopback ranges that outbound requests (webhooks, federation dispatches,
    callbacks, manifest fetches) may reach anyway (tests: 127.0.0.0/8)."""
    webhook_allow_cidrs: list[str] = msgspec.field(default_factory=list)
    """Alias of egress_allow_cidrs, kept for existing configurations; the two are merged."""
    webhook_max_attempts: int = 8
    """Tries per delivery before it is marked failed."""
    webhook_retry_base_seconds: float = 1.0
    """First retry delay; doubles per attempt (with jitter) up to webhook_retry_max_seconds."""
    webhook_retry_max_seconds: float = 600.0
    webhook_timeout_seconds: float = 10.0
    webhook_max_response_bytes: int = 65_536
    """How much of a receiver's answer is read (kept for the attempt log)."""
    webhook_concurrency: int = 16
    sse_keepalive_seconds: float = 15.0
    """Idle streams get a `: keepalive` comment this often (proxies drop silent ones)."""
    sse_buffer_events: int = 1024
    """Per-stream live buffer; a stream that falls further behind re-reads the log."""
    sse_flush_interval_ms: float = 20.0
    """Under load a stream writes at most this often, batching what arrived (0: per event)."""
    http_idle_timeout_seconds: float = 30.0
    """A connection with no request in progress (before its first, between two) is closed
    (0: never)."""
    http_header_timeout_seconds: float = 10.0
    """A request's headers must be complete this long after its first byte (408 otherwise;
    0: no limit)."""
    http_body_timeout_seconds: float = 30.0
    """A request body that stops arriving for this long is answered 408 and closed (0: no
    limit)."""
    http_max_connections: int = 0
    """Open connections at most (0: the descriptor limit less 128). A new one beyond it evicts
    the connection idle the longest; one with a request in flight is never evicted."""
    federation_enabled: bool = False
    """RFC-0022/0023 federation: the well-known documents and /api/v1/federation/*."""
    federation_trust_policy: Literal["open", "allowlist", "trustless"] = "allowlist"
    """Which sources may send us work; a `trust_policy` in federation_config overrides it."""
    federation_peers: list[str] = msgspec.field(default_factory=list)
    """Peer base URLs (or DIDs), merged with the peers of federation_config."""
    federation_config: str = ""
    """YAML file with a top-level `federation:` block (peers, pins, agents, policy)."""
    federation_key_file: str = ""
    """Ed25519 seed (32 raw bytes, mode 0600); empty: `<db>.federation-key` beside a SQLite
    file, or held by a PostgreSQL database (one identity for all its instances)."""
    federation_max_skew_seconds: int = 300
    """How far a signed `created_at` may be from our clock."""
    federation_max_attempts: int = 5
    """Tries per dispatch or callback before it is marked failed."""
    federation_did_web_http: bool = False
    """Resolve did:web over http instead of https (tests on loopback)."""
    oap_max_envelope_bytes: int = 1_048_576
    """Largest OAP TaskEnvelope sent to an agent, and largest answer read from one."""
    oap_retry_scale: float = 1.0
    """Multiplies OAP's retry sleeps (1, 2, 4 s); tests shorten them."""
    log_level: str = "warning"
    http: Literal["uvicorn", "granian"] = "uvicorn"
    """HTTP server for `serve`: uvicorn (uvloop + httptools) or granian (embedded, same loop)."""

    def __post_init__(self) -> None:
        if postgres_url(self.db) is None:
            database_path(self.db)  # an unsupported URL is refused when the settings load
        if self.postgres_claim_seconds <= 0:
            raise ValueError("postgres_claim_seconds must be more than 0")
        for name in (
            "http_idle_timeout_seconds",
            "http_header_timeout_seconds",
            "http_body_timeout_seconds",
            "http_max_connections",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 (off / derived) or more")

    @property
    def db_path(self) -> Path:
        """The SQLite file (ValueError for a PostgreSQL URL: check `postgres_url` first)."""
        return database_path(self.db)

    @property
    def postgres_url(self) -> str | None:
        return postgres_url(self.db)

    @property
    def db_display(self) -> str:
        """The database as it may be shown or logged: a URL's password is masked."""
        return redact_password(self.db) if self.postgres_url else str(self.db_path)

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def egress_cidrs(self) -> list[str]:
        """The one egress allow-list: egress_allow_cidrs plus its alias webhook_allow_cidrs."""
        return list(dict.fromkeys([*self.egress_allow_cidrs, *self.webhook_allow_cidrs]))


SQLITE_URL_PREFIX = "sqlite:///"
POSTGRES_SCHEMES = ("postgresql", "postgres")
_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def postgres_url(db: str) -> str | None:
    """`db` when it names a PostgreSQL database (postgresql:// or postgres://)."""
    scheme = _URL_SCHEME.match(db)
    return db if scheme and scheme.group(1).lower() in POSTGRES_SCHEMES else None


def redact_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def database_path(db: str) -> Path:
    """The SQLite file a `db` setting names: a path, or `sqlite:///path` as SQLAlchemy
    writes it (`sqlite:///relative.db`, `sqlite:////absolute.db`). Any other `scheme://`
    raises ValueError: taken as a path it would silently create a directory named after
    the scheme."""
    if not db:
        return data_dir() / "openintent.db"
    if db.startswith(SQLITE_URL_PREFIX):
        path = db[len(SQLITE_URL_PREFIX) :]
        if not path or path.startswith(":memory:") or "?" in path:
            raise ValueError(f"db: {db!r} is not a SQLite file URL (sqlite:///path/to/file.db)")
        return Path(path)
    if postgres_url(db):
        raise ValueError(
            "db: a PostgreSQL URL names no SQLite file (the console's bundled server runs on"
            " SQLite: start `openintent-tui serve --db postgresql://...` and connect to it)"
        )
    scheme = _URL_SCHEME.match(db)
    if scheme:
        raise ValueError(
            f"db: unsupported database URL scheme {scheme.group(1).lower()!r}. Supported: a"
            " SQLite file path, sqlite:///path, or postgresql://user@host:port/dbname"
        )
    return Path(db)


def _from_env(environ: dict[str, str]) -> dict[str, Any]:
    """OPENINTENT_PORT=9000, OPENINTENT_API_KEYS=a,b: lists are comma-separated."""
    values: dict[str, Any] = {}
    for field in msgspec.structs.fields(Settings):
        raw = environ.get(ENV_PREFIX + field.name.upper())
        if raw is None:
            continue
        values[field.name] = (
            [p.strip() for p in raw.split(",") if p.strip()] if (field.type == list[str]) else raw
        )
    return values


def load_settings(
    overrides: dict[str, Any] | None = None,
    *,
    config_file: Path | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Merge the layers; None values in `overrides` (unset flags) do not count."""
    environ = dict(os.environ) if environ is None else environ
    merged: dict[str, Any] = {}
    path = config_file or (
        Path(environ[ENV_PREFIX + "CONFIG"]) if ENV_PREFIX + "CONFIG" in environ else None
    )
    if path is None and (config_dir() / "server.toml").exists():
        path = config_dir() / "server.toml"
    if path is not None:
        with open(path, "rb") as fh:
            document = tomllib.load(fh)
        merged.update(document.get("server", document))
    merged.update(_from_env(environ))
    merged.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return msgspec.convert(merged, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SystemExit(f"invalid setting: {exc}") from None


def ensure_api_key(settings: Settings) -> tuple[Settings, Path | None]:
    """Without any configured key, use (or create once) a random key in the data dir.

    Returns the settings with that key added and the file's path when it was used,
    so the caller can tell the operator where it lives. There is no built-in default key.
    """
    if settings.api_keys or settings.api_key_hashes:
        return settings, None
    key_file = generated_key_path()
    private_data_dir()
    if not key_file.exists():
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32) + "\n")
    else:
        restrict_to_owner(key_file)
    key = key_file.read_text().strip()
    return msgspec.structs.replace(settings, api_keys=[key]), key_file


def generated_key_path() -> Path:
    return data_dir() / GENERATED_KEY_FILE
