"""Minimum group size, with complementary suppression. Pure functions over a grid.

``Cell`` is a dashboard table's figure. Dashboards no longer suppress table by table: the
publication decides over the whole organization (``server.analytics.disclosure``, which applies
the same primary rule and subtraction rules, then verifies by linear programming). These
per-grid rules (``suppress_small``, ``suppress_table``) are no longer called by the server; they
stay with their tests as the reference for a single table.

Primary: a figure that covers fewer than ``k`` distinct people is hidden. Complementary: in a
table whose rows and columns add up to shown totals, hiding one cell is not enough — the
total minus the visible cells gives it back. So in every line (a row with its row total, a
column with its column total, and the totals with the grand total), the hidden cells must be
none, or at least two of which at least one is not itself small (so the only thing the
subtraction reveals is a sum over at least ``k`` people), or the whole line. Missing
suppressions are added at the smallest visible cell of the line, repeated until every line
holds; each step only hides more, so it ends.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Cell:
    value: float | None
    people: int  # distinct people the figure covers
    suppressed: bool = False
    primary: bool = False
    pending: bool = False  # its period is not published yet (not closed): no value, not hidden

    def shown(self) -> float | None:
        return None if self.suppressed else self.value


def suppress_small(cells: list[Cell], k: int) -> None:
    """Primary suppression only (tables without totals)."""
    for cell in cells:
        if cell.people < k:
            cell.suppressed = cell.primary = True


def suppress_table(
    grid: list[list[Cell]],
    row_totals: list[Cell] | None,
    column_totals: list[Cell] | None,
    total: Cell | None,
    k: int,
) -> None:
    """Suppress in place: ``grid[r][c]``, ``row_totals[r]`` (the sum of row r),
    ``column_totals[c]`` (the sum of column c) and ``total`` (the sum of either). Leave out
    the totals that are not sums of their line (distinct people across periods are not)."""
    suppress_small([c for row in grid for c in row], k)
    suppress_small(row_totals or [], k)
    suppress_small(column_totals or [], k)
    suppress_small([total] if total is not None else [], k)
    lines: list[tuple[list[Cell], Cell]] = []
    if row_totals is not None:
        lines += [(row, row_totals[r]) for r, row in enumerate(grid) if row]
    if column_totals is not None and grid:
        lines += [([row[c] for row in grid], column_totals[c]) for c in range(len(column_totals))]
    if total is not None and row_totals:
        lines.append((row_totals, total))
    if total is not None and column_totals:
        lines.append((column_totals, total))
    changed = True
    while changed:
        changed = False
        for parts, line_total in lines:
            if _protect(parts, line_total):
                changed = True


def _protect(parts: list[Cell], line_total: Cell) -> bool:
    """Hide one more cell in this line if the line leaks; True if something changed."""
    members = [*parts, line_total]
    hidden = [c for c in members if c.suppressed]
    if not hidden or len(hidden) == len(members):
        return False
    hidden_parts = [c for c in parts if c.suppressed]
    leaks = len(hidden) == 1 or (
        # With the total shown, the hidden parts' sum is revealed: it must cover a large
        # enough cell, unless the parts are all hidden (then the sum is the total itself).
        not line_total.suppressed
        and len(hidden_parts) < len(parts)
        and all(c.primary for c in hidden_parts)
    )
    if not leaks:
        return False
    visible = [c for c in parts if not c.suppressed] or [line_total]
    smallest = min(visible, key=lambda c: (c.value or 0, c.people))
    smallest.suppressed = True
    return True
