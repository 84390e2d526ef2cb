"""docs/architecture.md is the map a newcomer reads by folder: it must match the folders."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAP = (ROOT / "docs" / "architecture.md").read_text()
SERVER_LIMIT = 600  # lines per module in server/, the declarative route table excepted
ROUTE_TABLE = ROOT / "server" / "http" / "routes.py"


def named_paths() -> set[str]:
    """Every path the map names in backticks (`server/office/service.py`, `media/`, ...)."""
    found = set()
    for quoted in re.findall(r"`([^`\s]+)`", MAP):
        placeholder = "<" in quoted
        if not placeholder and re.match(
            r"^(server|rooms|media|static|tests|migrations|bench|docs)/", quoted
        ):
            found.add(quoted.split("#")[0])
    return found


def test_every_path_the_map_names_exists() -> None:
    missing = sorted(p for p in named_paths() if not (ROOT / p.rstrip("/")).exists())
    assert not missing, missing


def test_every_server_package_is_on_the_map() -> None:
    packages = sorted(
        f"server/{d.name}/" for d in (ROOT / "server").iterdir() if (d / "__init__.py").exists()
    )
    assert packages, "no packages found"
    unmapped = [p for p in packages if f"`{p}`" not in MAP]
    assert not unmapped, unmapped


def test_every_where_do_i_go_row_names_a_real_path() -> None:
    section = MAP.split("## Where do I go?", 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    for row in rows[1:]:  # after the header
        paths = [p for p in re.findall(r"`([^`\s]+)`", row) if "/" in p and "." in p.split("/")[-1]]
        for path in paths:
            if (
                path.startswith(("server/", "rooms/", "media/", "static/", "tests/"))
                and "<" not in path
            ):
                assert (ROOT / path).exists(), (path, row[:80])


def test_no_server_module_is_over_the_limit() -> None:
    too_long = {
        str(path.relative_to(ROOT)): lines
        for path in (ROOT / "server").rglob("*.py")
        if path != ROUTE_TABLE and (lines := len(path.read_text().splitlines())) > SERVER_LIMIT
    }
    assert not too_long, too_long
