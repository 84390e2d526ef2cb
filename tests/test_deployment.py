"""docker-compose.yml and the Dockerfile, read as a self-hoster's Docker would read them.

No Docker engine runs in CI, so the deployment is checked where it can break without one:
every variable it sets is a setting the server reads, the settings it gives the server are
valid, the media port it publishes is the one the server binds and announces, and coturn shares
the secret, ports and peer rule the server's TURN URLs expect. (PyYAML comes with the pinned
development requirements.)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from server.infra.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
# What a self-hoster exports before `docker compose up` (the file's own header).
EXPORTED = {
    "OFFICEHOURS_SECRET_KEY": "s" * 48,
    "OFFICEHOURS_BASE_URL": "https://office.example.org",
    "OFFICEHOURS_PUBLIC_IP": "203.0.113.10",
    "OFFICEHOURS_TURN_SECRET": "t" * 32,
    "OFFICEHOURS_TURN_HOST": "turn.example.org",
}


def substitute(value: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}``."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if env.get(name):
            return env[name]
        if op == ":?":
            raise ValueError(f"{name} must be set: {arg}")
        return arg if op == ":-" else ""

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", one, value)


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


def server_environment() -> dict[str, str]:
    service = compose()["services"]["officehours"]
    return {k: substitute(str(v), EXPORTED) for k, v in service["environment"].items()}


def documented_settings() -> set[str]:
    text = (ROOT / "docs" / "operations.md").read_text()
    return set(re.findall(r"^\| `(OFFICEHOURS_\w+)`", text, re.MULTILINE))


def test_every_variable_compose_sets_is_a_documented_setting_the_server_reads() -> None:
    source = (ROOT / "server" / "infra" / "settings.py").read_text()
    for name in server_environment():
        assert name in documented_settings(), name
        assert f'"{name.removeprefix("OFFICEHOURS_")}"' in source, name


def test_the_server_accepts_the_settings_compose_gives_it(tmp_path: Path) -> None:
    env = {**dockerfile_environment(), **server_environment()}
    env["OFFICEHOURS_DATA_DIR"] = str(tmp_path)  # /data inside the container
    settings = Settings.from_env(env)
    assert settings.media_udp_port == 50000
    assert settings.media_announced_addresses == (EXPORTED["OFFICEHOURS_PUBLIC_IP"],)
    assert settings.turn is not None
    assert settings.turn.secret == EXPORTED["OFFICEHOURS_TURN_SECRET"]
    schemes = {url.split(":")[0] for url in settings.turn.urls}
    assert schemes == {"turn", "turns"}  # UDP/TCP, and TLS for networks that block UDP
    assert settings.host == "0.0.0.0"  # noqa: S104 (the container's own interface)


def dockerfile_environment() -> dict[str, str]:
    text = (ROOT / "Dockerfile").read_text()
    return dict(re.findall(r"(OFFICEHOURS_\w+)=(\S+)", text))


def test_the_ports_published_are_the_ones_the_server_uses() -> None:
    service = compose()["services"]["officehours"]
    env = server_environment()
    media = env["OFFICEHOURS_MEDIA_UDP_PORT"]
    assert f"{media}:{media}/udp" in service["ports"]  # same port outside and in: announced
    assert "8080:8080" in service["ports"]
    exposed = re.search(r"^EXPOSE (.+)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert exposed is not None and set(exposed.group(1).split()) == {"8080", f"{media}/udp"}


def test_coturn_shares_the_secret_ports_and_relays_only_to_the_media_port() -> None:
    coturn = compose()["services"]["coturn"]
    flags: dict[str, str] = {}
    for flag in (substitute(str(f), EXPORTED).removeprefix("--") for f in coturn["command"]):
        name, _, value = flag.partition("=")
        flags[name] = value
    env = server_environment()
    turn_urls = env["OFFICEHOURS_TURN_URLS"].split(",")
    assert "use-auth-secret" in flags
    assert flags["static-auth-secret"] == env["OFFICEHOURS_TURN_SECRET"]
    host = EXPORTED["OFFICEHOURS_TURN_HOST"]
    assert f"turn:{host}:{flags['listening-port']}?transport=udp" in turn_urls
    assert f"turn:{host}:{flags['listening-port']}?transport=tcp" in turn_urls
    assert f"turns:{host}:{flags['tls-listening-port']}?transport=tcp" in turn_urls
    # Relayed media may go to the announced media address only, never into a private network.
    assert flags["denied-peer-ip"] == "0.0.0.0-255.255.255.255"
    assert flags["allowed-peer-ip"] == env["OFFICEHOURS_MEDIA_ANNOUNCED_ADDRESSES"]
    assert flags["external-ip"] == env["OFFICEHOURS_MEDIA_ANNOUNCED_ADDRESSES"]


def test_a_missing_secret_stops_compose_with_a_message() -> None:
    environment = compose()["services"]["officehours"]["environment"]
    missing = {k: v for k, v in EXPORTED.items() if k != "OFFICEHOURS_SECRET_KEY"}
    with pytest.raises(ValueError, match="at least 32 characters"):
        substitute(str(environment["OFFICEHOURS_SECRET_KEY"]), missing)
