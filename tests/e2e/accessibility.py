"""axe-core in the e2e tests: a page, as the test has brought it, has no serious or critical
accessibility violation.

axe-core comes from npm, pinned in package-lock.json (a dev dependency: the server never
serves it). It is evaluated into the page through the DevTools protocol, which the page's
Content-Security-Policy (no inline script) does not apply to, so the page is checked under the
policy it really has.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

AXE_SCRIPT = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")
NODES_SHOWN = 8  # per rule in a failure message; the count says how many more

# Runs axe over the whole document with its default rules (WCAG 2.x A and AA, and its best
# practices), returning only what the assertion needs, so the message can name each element.
RUN = """async () => {
  const results = await window.axe.run(document, { resultTypes: ["violations"] });
  return results.violations.map((rule) => ({
    id: rule.id,
    impact: rule.impact,
    help: rule.help,
    url: rule.helpUrl,
    nodes: rule.nodes.map((node) => ({
      impact: node.impact,
      target: node.target.map(String).join(" "),
      summary: node.failureSummary || "",
    })),
  }));
}"""


@cache
def axe_source() -> str:
    if not AXE_SCRIPT.exists():
        pytest.fail(f"{AXE_SCRIPT} is missing: run `npm ci` (package-lock.json pins axe-core)")
    return AXE_SCRIPT.read_text(encoding="utf-8")


async def violations(page: Page) -> list[dict[str, Any]]:
    """axe's violations on the page as it is now, injected once per document."""
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        await page.evaluate("(source) => { (0, eval)(source); }", axe_source())
    found: list[dict[str, Any]] = await page.evaluate(RUN)
    return found


def report(found: list[dict[str, Any]]) -> str:
    """One block per rule: id, impact, what it asks for, then each offending element."""
    lines = []
    for rule in found:
        lines.append(f"{rule['id']} ({rule['impact']}): {rule['help']} <{rule['url']}>")
        for node in rule["nodes"][:NODES_SHOWN]:
            why = " / ".join(
                line.strip() for line in node["summary"].splitlines()[1:] if line.strip()
            )
            lines.append(f"  - {node['target']}: {why}")
        if len(rule["nodes"]) > NODES_SHOWN:
            lines.append(f"  … and {len(rule['nodes']) - NODES_SHOWN} more")
    return "\n".join(lines)


async def assert_accessible(page: Page, where: str) -> None:
    """Fail, listing every element at fault, if axe finds a serious or critical violation;
    ``where`` names the page and its state in the message."""
    blocking = [rule for rule in await violations(page) if rule["impact"] in BLOCKING]
    if blocking:
        pytest.fail(
            f"axe-core: serious or critical accessibility violations on {where}:\n"
            + report(blocking),
            pytrace=False,
        )
