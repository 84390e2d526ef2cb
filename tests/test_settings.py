"""Settings are validated once, at start; a bad one stops the process with one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from server.infra.settings import Settings, SettingsError


def build(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env(
        {"OFFICEHOURS_DATA_DIR": str(tmp_path), **{f"OFFICEHOURS_{k}": v for k, v in env.items()}}
    )


def test_defaults_are_a_local_single_process_office(tmp_path: Path) -> None:
    settings = build(tmp_path)
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'officehours.db'}"
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.allowed_origins == ("http://127.0.0.1:8080",)
    assert settings.redis_url is None and settings.analytics_min_group_size == 5
    assert not settings.secure_cookies
    assert settings.analytics_database_url is None  # dashboards share the main connection


def test_secret_key_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = build(tmp_path).secret_key
    assert len(first) >= 32
    assert build(tmp_path).secret_key == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    assert first not in repr(build(tmp_path))


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("PORT", "eighty", "whole number"),
        ("PORT", "70000", "between 1 and 65535"),
        ("DATABASE_URL", "mysql://x/y", "sqlite+aiosqlite"),
        ("REDIS_URL", "localhost:6379", "redis"),
        ("BASE_URL", "office.example.org", "http or https"),
        ("ALLOWED_ORIGINS", "*", "wildcards"),
        ("ALLOWED_ORIGINS", "https://a.example,", "empty"),
        ("ALLOWED_ORIGINS", "https://a.example/path", "not an origin"),
        ("ANALYTICS_MIN_GROUP_SIZE", "2", "between 3"),
        ("ANALYTICS_DATABASE_URL", "postgresql+asyncpg://dash@db/oh", "PostgreSQL DATABASE_URL"),
        ("ICE_SERVERS", "http://stun.example", "stun:"),
        ("ICE_SERVERS", '[{"urls": "turn:t.example", "password": "x"}]', "only urls"),
        ("ICE_SERVERS", "[oops", "JSON"),
        ("SECRET_KEY", "short", "32 characters"),
        ("AUDIT_KEY", "short", "32 characters"),
        ("AUDIT_PREVIOUS_KEYS", f"{'k' * 40},short", "32 characters"),
        ("LOG_FORMAT", "xml", "auto, json or text"),
        ("MEDIA_UDP_PORT", "70000", "between 0 and 65535"),
        ("MEDIA_ANNOUNCED_ADDRESSES", "203.0.113.7", "needs OFFICEHOURS_MEDIA_UDP_PORT"),
        ("MEDIA_ANNOUNCED_ADDRESSES", "office.example.org", "not an IP address"),
        ("MEDIA_BIND_ADDRESS", "::", "not an IPv4 address"),
        ("TURN_URLS", "turn:t.example:3478", "goes together"),
        ("TURN_SECRET", "x" * 20, "goes together"),
    ],
)
def test_invalid_settings_name_the_variable(
    tmp_path: Path, variable: str, value: str, fragment: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        build(tmp_path, **{variable: value})
    assert str(caught.value).startswith(f"OFFICEHOURS_{variable}: ")
    assert fragment in str(caught.value)


def test_the_audit_key_is_its_own_and_previous_keys_only_follow_it(tmp_path: Path) -> None:
    derived = build(tmp_path).audit_chain_keys
    assert len(derived) == 1 and len(derived[0]) == 32
    assert derived[0] != build(tmp_path).secret_key.encode()  # not the secret key itself
    own = build(tmp_path, AUDIT_KEY="a" * 40, AUDIT_PREVIOUS_KEYS=f"{'b' * 40}, {'c' * 40}")
    assert len(own.audit_chain_keys) == 3 and own.audit_chain_keys[0] != derived[0]
    assert "a" * 40 not in repr(own)


def test_ice_servers_accept_browser_form(tmp_path: Path) -> None:
    settings = build(
        tmp_path,
        ICE_SERVERS='[{"urls": ["turn:t.example:3478"], '
        '"username": "u", "credential": "c"}, {"urls": "stun:s.example"}]',
    )
    assert [s.as_dict() for s in settings.ice_servers] == [
        {"urls": ["turn:t.example:3478"], "username": "u", "credential": "c"},
        {"urls": ["stun:s.example"]},
    ]


def test_media_ports_announced_addresses_and_turn(tmp_path: Path) -> None:
    settings = build(
        tmp_path,
        MEDIA_UDP_PORT="50000",
        MEDIA_ANNOUNCED_ADDRESSES="203.0.113.7, 198.51.100.9",
        TURN_URLS="turn:turn.example:3478?transport=udp,turns:turn.example:443?transport=tcp",
        TURN_SECRET="s" * 32,
    )
    assert settings.media_udp_port == 50000
    assert settings.media_announced_addresses == ("203.0.113.7", "198.51.100.9")
    assert settings.turn is not None and settings.turn.ttl_seconds == 86400
    assert settings.turn.urls[1] == "turns:turn.example:443?transport=tcp"
    assert "s" * 32 not in repr(settings)
    with pytest.raises(SettingsError, match="OFFICEHOURS_TURN_URLS: 'stun:x' is not a turn"):
        build(tmp_path, TURN_URLS="stun:x", TURN_SECRET="s" * 32)
    with pytest.raises(SettingsError, match="OFFICEHOURS_TURN_SECRET: must be at least 16"):
        build(tmp_path, TURN_URLS="turn:x", TURN_SECRET="short")


def test_the_process_refuses_to_start_with_an_invalid_setting(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFICEHOURS_")}
    env.update(OFFICEHOURS_DATA_DIR=str(tmp_path), OFFICEHOURS_ALLOWED_ORIGINS="*")
    done = subprocess.run(
        [sys.executable, "-m", "server", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "OFFICEHOURS_ALLOWED_ORIGINS" in lines[0]
