"""One frozen settings object, built once from ``OFFICEHOURS_*`` variables.

Nothing else in the code base reads the environment: everything that varies between
deployments arrives here, is validated here, and fails here with one line naming the variable.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

PREFIX = "OFFICEHOURS_"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{PREFIX}{variable}: {problem}")
        self.variable = PREFIX + variable


@dataclass(frozen=True)
class IceServer:
    """One STUN or TURN server handed to browsers and to the media relay."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None

    def as_dict(self) -> dict[str, object]:
        entry: dict[str, object] = {"urls": list(self.urls)}
        if self.username is not None:
            entry["username"] = self.username
        if self.credential is not None:
            entry["credential"] = self.credential
        return entry


@dataclass(frozen=True)
class Turn:
    """A TURN server sharing a secret with this one (the TURN REST API scheme)."""

    urls: tuple[str, ...]
    secret: str = field(repr=False)
    ttl_seconds: int = 24 * 3600


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    secret_key: str = field(repr=False)
    redis_url: str | None = None
    redis_prefix: str = "officehours"
    host: str = "127.0.0.1"
    port: int = 8080
    base_url: str = "http://127.0.0.1:8080"
    extra_origins: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()
    ice_servers: tuple[IceServer, ...] = ()
    # Media on one known UDP port (0: an ephemeral port per connection), announced as these
    # addresses (none: the interfaces' own) and bound on media_bind_address.
    media_udp_port: int = 0
    media_announced_addresses: tuple[str, ...] = ()
    media_bind_address: str = "0.0.0.0"  # noqa: S104
    turn: Turn | None = None
    analytics_min_group_size: int = 5
    chat_retention_days: int = 0
    inactive_account_days: int = 730
    analytics_raw_retention_days: int = 90
    # PostgreSQL only: the admin dashboards connect with this (a role with SELECT on the
    # analytics tables only); unset, they share the main connection.
    analytics_database_url: str | None = field(default=None, repr=False)
    session_ttl_hours: int = 24 * 14
    login_max_failures: int = 5
    login_window_seconds: int = 15 * 60
    login_backoff_cap_seconds: int = 60
    reset_credential_hours: int = 24
    max_message_bytes: int = 64 * 1024
    presence_grace_seconds: int = 30
    process_timeout_seconds: int = 8
    restart_grace_seconds: int = 60
    idle_after_seconds: int = 300
    knock_timeout_seconds: int = 60
    coalesce_ms: int = 50
    chat_group_commit: bool = True
    chat_burst: int = 10
    chat_per_second: int = 1
    event_burst: int = 100
    event_per_second: int = 20
    log_format: str = "auto"
    log_level: str = "INFO"
    # The audit chain's key material: unset, it is derived from the secret key. Previous
    # keys only verify entries written before a rotation.
    audit_key: str | None = field(default=None, repr=False)
    audit_previous_keys: tuple[str, ...] = field(default=(), repr=False)

    @property
    def audit_chain_keys(self) -> tuple[bytes, ...]:
        """The MAC keys of the audit chain, the one that signs new entries first."""
        current = self.audit_key if self.audit_key is not None else self.secret_key
        return tuple(_audit_mac_key(m) for m in (current, *self.audit_previous_keys))

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def allowed_origins(self) -> tuple[str, ...]:
        """Origins allowed for WebSocket, polling and state-changing HTTP requests."""
        return (origin_of(self.base_url), *self.extra_origins)

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build and validate settings; may create ``data_dir`` and the secret key file."""
        reader = _Reader(env)
        data_dir = Path(reader.text("DATA_DIR", "./var")).resolve()
        host = reader.text("HOST", "127.0.0.1")
        port = reader.integer("PORT", 8080, low=1, high=65535)
        default_base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"  # noqa: S104
        base_url = reader.url(
            "BASE_URL", reader.text("BASE_URL", default_base), schemes=("http", "https")
        ).rstrip("/")
        database_url = reader.text(
            "DATABASE_URL", f"sqlite+aiosqlite:///{data_dir / 'officehours.db'}"
        )
        if not database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise SettingsError(
                "DATABASE_URL", "must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
            )
        analytics_database_url = reader.optional("ANALYTICS_DATABASE_URL")
        if analytics_database_url is not None and not (
            analytics_database_url.startswith("postgresql+asyncpg://")
            and database_url.startswith("postgresql+asyncpg://")
        ):
            raise SettingsError(
                "ANALYTICS_DATABASE_URL",
                "must start with postgresql+asyncpg:// and needs a PostgreSQL DATABASE_URL",
            )
        redis_url = reader.optional("REDIS_URL")
        if redis_url is not None:
            reader.url("REDIS_URL", redis_url, schemes=("redis", "rediss", "unix"))
        extra_origins = reader.origins("ALLOWED_ORIGINS")
        min_group = reader.integer("ANALYTICS_MIN_GROUP_SIZE", 5, low=3, high=1000)
        log_format = reader.text("LOG_FORMAT", "auto")
        if log_format not in ("auto", "json", "text"):
            raise SettingsError("LOG_FORMAT", "must be auto, json or text")
        log_level = reader.text("LOG_LEVEL", "INFO").upper()
        if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise SettingsError("LOG_LEVEL", "must be DEBUG, INFO, WARNING or ERROR")
        secret = reader.optional("SECRET_KEY")
        if secret is not None and len(secret) < 32:
            raise SettingsError("SECRET_KEY", "must be at least 32 characters")
        audit_key = reader.optional("AUDIT_KEY")
        if audit_key is not None and len(audit_key) < 32:
            raise SettingsError("AUDIT_KEY", "must be at least 32 characters")
        media_udp_port = reader.integer("MEDIA_UDP_PORT", 0, low=0, high=65535)
        announced = reader.addresses("MEDIA_ANNOUNCED_ADDRESSES")
        bind_address = reader.text("MEDIA_BIND_ADDRESS", "0.0.0.0")  # noqa: S104
        for name, values in (
            ("MEDIA_ANNOUNCED_ADDRESSES", announced),
            ("MEDIA_BIND_ADDRESS", (bind_address,)),
        ):
            for value in values:
                if not _is_ipv4(value):
                    raise SettingsError(name, f"{value!r} is not an IPv4 address")
        if announced and media_udp_port == 0:
            raise SettingsError("MEDIA_ANNOUNCED_ADDRESSES", "needs OFFICEHOURS_MEDIA_UDP_PORT")
        turn = reader.turn()
        previous = reader.optional("AUDIT_PREVIOUS_KEYS")
        audit_previous = tuple(k.strip() for k in (previous or "").split(",") if k.strip())
        if any(len(k) < 32 for k in audit_previous):
            raise SettingsError("AUDIT_PREVIOUS_KEYS", "each key must be at least 32 characters")
        return cls(
            data_dir=data_dir,
            database_url=database_url,
            secret_key=secret if secret is not None else _stored_secret(data_dir),
            redis_url=redis_url,
            redis_prefix=reader.text("REDIS_PREFIX", "officehours"),
            host=host,
            port=port,
            base_url=base_url,
            extra_origins=extra_origins,
            trusted_proxies=reader.addresses("TRUSTED_PROXIES"),
            ice_servers=reader.ice_servers("ICE_SERVERS"),
            media_udp_port=media_udp_port,
            media_announced_addresses=announced,
            media_bind_address=bind_address,
            turn=turn,
            analytics_min_group_size=min_group,
            analytics_database_url=analytics_database_url,
            chat_retention_days=reader.integer("CHAT_RETENTION_DAYS", 0, low=0, high=36500),
            inactive_account_days=reader.integer("INACTIVE_ACCOUNT_DAYS", 730, low=30, high=36500),
            analytics_raw_retention_days=reader.integer(
                "ANALYTICS_RAW_RETENTION_DAYS", 90, low=1, high=36500
            ),
            session_ttl_hours=reader.integer("SESSION_TTL_HOURS", 24 * 14, low=1, high=24 * 365),
            login_max_failures=reader.integer("LOGIN_MAX_FAILURES", 5, low=1, high=1000),
            login_window_seconds=reader.integer("LOGIN_WINDOW_SECONDS", 900, low=1, high=86400),
            login_backoff_cap_seconds=reader.integer(
                "LOGIN_BACKOFF_CAP_SECONDS", 60, low=1, high=3600
            ),
            reset_credential_hours=reader.integer("RESET_CREDENTIAL_HOURS", 24, low=1, high=24 * 7),
            max_message_bytes=reader.integer("MAX_MESSAGE_BYTES", 65536, low=1024, high=16 << 20),
            presence_grace_seconds=reader.integer("PRESENCE_GRACE_SECONDS", 30, low=0, high=3600),
            process_timeout_seconds=reader.integer("PROCESS_TIMEOUT_SECONDS", 8, low=1, high=3600),
            restart_grace_seconds=reader.integer("RESTART_GRACE_SECONDS", 60, low=0, high=3600),
            idle_after_seconds=reader.integer("IDLE_AFTER_SECONDS", 300, low=30, high=86400),
            knock_timeout_seconds=reader.integer("KNOCK_TIMEOUT_SECONDS", 60, low=5, high=3600),
            coalesce_ms=reader.integer("COALESCE_MS", 50, low=10, high=2000),
            chat_group_commit=reader.boolean("CHAT_GROUP_COMMIT", True),
            chat_burst=reader.integer("CHAT_BURST", 10, low=1, high=10000),
            chat_per_second=reader.integer("CHAT_PER_SECOND", 1, low=1, high=10000),
            event_burst=reader.integer("EVENT_BURST", 100, low=10, high=100000),
            event_per_second=reader.integer("EVENT_PER_SECOND", 20, low=1, high=100000),
            log_format=log_format,
            log_level=log_level,
            audit_key=audit_key,
            audit_previous_keys=audit_previous,
        )


def _audit_mac_key(material: str) -> bytes:
    """A key of its own for the audit chain, so no other keyed hash can stand in for a MAC."""
    return hmac.new(material.encode(), b"officehours audit chain v1", hashlib.sha256).digest()


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _stored_secret(data_dir: Path) -> str:
    """Generate the secret once into the data directory, readable by the owner only."""
    path = data_dir / "secret_key"
    if path.exists():
        value = path.read_text().strip()
        if len(value) >= 32:
            return value
        raise SettingsError("SECRET_KEY", f"unset and {path} holds a key that is too short")
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(48)
        path.touch(mode=0o600)
        path.write_text(value + "\n")
    except OSError as exc:
        raise SettingsError("DATA_DIR", f"cannot write {path}: {exc.strerror}") from exc
    return value


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def optional(self, name: str) -> str | None:
        value = self._env.get(PREFIX + name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def text(self, name: str, default: str) -> str:
        value = self.optional(name)
        return default if value is None else value

    def integer(self, name: str, default: int, *, low: int, high: int) -> int:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(name, f"must be a whole number, got {raw!r}") from None
        if not low <= value <= high:
            raise SettingsError(name, f"must be between {low} and {high}, got {value}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        raw = self.optional(name)
        if raw is None:
            return default
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise SettingsError(name, f"must be true or false, got {raw!r}")

    def url(self, name: str, value: str, *, schemes: tuple[str, ...]) -> str:
        parts = urlsplit(value)
        if parts.scheme not in schemes or (parts.scheme != "unix" and not parts.netloc):
            raise SettingsError(name, f"must be a {' or '.join(schemes)} URL, got {value!r}")
        return value

    def origins(self, name: str) -> tuple[str, ...]:
        raw = self.optional(name)
        if raw is None:
            return ()
        origins = tuple(item.strip().rstrip("/") for item in raw.split(","))
        for origin in origins:
            if origin == "*" or origin == "":
                raise SettingsError(name, "wildcards and empty entries are refused; list origins")
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
                raise SettingsError(name, f"{origin!r} is not an origin like https://host:port")
        return origins

    def addresses(self, name: str) -> tuple[str, ...]:
        raw = self.optional(name)
        if raw is None:
            return ()
        result = []
        for item in raw.split(","):
            try:
                result.append(str(ipaddress.ip_address(item.strip())))
            except ValueError:
                raise SettingsError(name, f"{item.strip()!r} is not an IP address") from None
        return tuple(result)

    def turn(self) -> Turn | None:
        raw_urls, secret = self.optional("TURN_URLS"), self.optional("TURN_SECRET")
        if raw_urls is None and secret is None:
            return None
        if raw_urls is None or secret is None:
            given, missing = (
                ("TURN_SECRET", "TURN_URLS") if raw_urls is None else ("TURN_URLS", "TURN_SECRET")
            )
            raise SettingsError(given, f"goes together with {PREFIX}{missing}, which is unset")
        urls = tuple(u.strip() for u in raw_urls.split(","))
        for url in urls:
            if not url.startswith(("turn:", "turns:")):
                raise SettingsError("TURN_URLS", f"{url!r} is not a turn: or turns: URL")
        if len(secret) < 16:
            raise SettingsError("TURN_SECRET", "must be at least 16 characters")
        ttl = self.integer("TURN_TTL_SECONDS", 24 * 3600, low=60, high=7 * 24 * 3600)
        return Turn(urls, secret, ttl)

    def ice_servers(self, name: str) -> tuple[IceServer, ...]:
        """A JSON list as in RTCConfiguration.iceServers, or comma-separated stun: URLs."""
        raw = self.optional(name)
        if raw is None:
            return ()
        if not raw.startswith("["):
            urls = tuple(u.strip() for u in raw.split(","))
            _check_ice_urls(name, urls)
            return tuple(IceServer(urls=(u,)) for u in urls)
        try:
            entries = json.loads(raw)
        except json.JSONDecodeError:
            raise SettingsError(name, "is not valid JSON") from None
        if not isinstance(entries, list):
            raise SettingsError(name, "must be a JSON list")
        servers = []
        for entry in entries:
            if not isinstance(entry, dict) or set(entry) - {"urls", "username", "credential"}:
                raise SettingsError(name, "entries take only urls, username and credential")
            raw_urls = entry.get("urls")
            url_list: tuple[str, ...] = (
                (raw_urls,) if isinstance(raw_urls, str) else tuple(raw_urls or ())
            )
            if not url_list or not all(isinstance(u, str) for u in url_list):
                raise SettingsError(name, "every entry needs urls")
            _check_ice_urls(name, url_list)
            username, credential = entry.get("username"), entry.get("credential")
            if not isinstance(username, str | None) or not isinstance(credential, str | None):
                raise SettingsError(name, "username and credential must be strings")
            servers.append(IceServer(url_list, username, credential))
        return tuple(servers)


def _is_ipv4(value: str) -> bool:
    try:
        return ipaddress.ip_address(value).version == 4
    except ValueError:
        return False


def _check_ice_urls(name: str, urls: tuple[str, ...]) -> None:
    for url in urls:
        if not url.startswith(("stun:", "stuns:", "turn:", "turns:")):
            raise SettingsError(name, f"{url!r} is not a stun:, stuns:, turn: or turns: URL")
