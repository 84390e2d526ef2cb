"""Minimum group size and complementary suppression, as pure functions over grids."""

from __future__ import annotations

import random

from server.analytics.suppression import Cell, suppress_small, suppress_table

K = 5


def line_leaks(parts: list[Cell], total: Cell) -> bool:
    """Whether subtraction gives back a figure over fewer than K people in this line."""
    members = [*parts, total]
    hidden = [c for c in members if c.suppressed]
    if not hidden or len(hidden) == len(members):
        return False
    if len(hidden) == 1:
        return True  # total minus the visible cells, or the sum of the visible cells
    hidden_parts = [c for c in parts if c.suppressed]
    return (
        not total.suppressed
        and len(hidden_parts) < len(parts)
        and all(c.people < K for c in hidden_parts)
    )


def test_a_small_figure_is_hidden_and_a_large_one_shown() -> None:
    cells = [Cell(3, 4), Cell(30, 5), Cell(0, 0)]
    suppress_small(cells, K)
    assert [c.shown() for c in cells] == [None, 30, None]


def test_differencing_one_hidden_cell_out_of_a_total_is_prevented() -> None:
    """Row: 12 (6 people), 5 (5 people), 4 (1 person); total 21. Hiding only the 4 would let
    anyone compute 21 - 12 - 5 = 4. The next smallest (5) is hidden with it."""
    grid = [[Cell(12, 6), Cell(5, 5), Cell(4, 1)]]
    row_totals = [Cell(21, 12)]
    suppress_table(grid, row_totals, None, None, K)
    assert [c.shown() for c in grid[0]] == [12, None, None]
    assert row_totals[0].shown() == 21
    assert 21 - 12 == 9  # what subtraction gives: the two hidden cells together, 6 people


def test_two_small_cells_do_not_protect_each_other() -> None:
    """Two one-person cells hidden together still reveal their sum (two people): a third,
    large enough cell joins them."""
    grid = [[Cell(40, 9), Cell(20, 7), Cell(2, 1), Cell(3, 1)]]
    row_totals = [Cell(65, 18)]
    suppress_table(grid, row_totals, None, None, K)
    assert [c.suppressed for c in grid[0]] == [False, True, True, True]


def test_complements_propagate_through_columns_and_totals() -> None:
    grid = [
        [Cell(10, 6), Cell(2, 1), Cell(9, 6)],
        [Cell(11, 7), Cell(12, 6), Cell(13, 8)],
    ]
    row_totals = [Cell(21, 13), Cell(36, 15)]
    column_totals = [Cell(21, 9), Cell(14, 7), Cell(22, 10)]
    total = Cell(57, 20)
    suppress_table(grid, row_totals, column_totals, total, K)
    lines = [(row, row_totals[r]) for r, row in enumerate(grid)]
    lines += [([row[c] for row in grid], column_totals[c]) for c in range(3)]
    lines += [(row_totals, total), (column_totals, total)]
    assert grid[0][1].suppressed
    assert not any(line_leaks(parts, t) for parts, t in lines)


def test_random_tables_never_leak_a_small_figure_by_subtraction() -> None:
    rng = random.Random(7)
    for _ in range(300):
        rows, columns = rng.randint(1, 5), rng.randint(1, 5)
        grid = [
            [
                Cell(float(p * rng.randint(1, 3)), p)
                for p in (rng.choice([0, 1, 2, 5, 8, 20]) for _ in range(columns))
            ]
            for _ in range(rows)
        ]
        row_totals = [
            Cell(sum(c.value or 0 for c in row), sum(c.people for c in row)) for row in grid
        ]
        column_totals = [
            Cell(sum(row[c].value or 0 for row in grid), sum(row[c].people for row in grid))
            for c in range(columns)
        ]
        total = Cell(sum(c.value or 0 for c in row_totals), sum(c.people for c in row_totals))
        suppress_table(grid, row_totals, column_totals, total, K)
        for row in grid:
            for cell in row:
                assert cell.people >= K or cell.suppressed
        lines = [(row, row_totals[r]) for r, row in enumerate(grid)]
        lines += [([row[c] for row in grid], column_totals[c]) for c in range(columns)]
        lines += [(row_totals, total), (column_totals, total)]
        for parts, line_total in lines:
            assert not line_leaks(parts, line_total)
