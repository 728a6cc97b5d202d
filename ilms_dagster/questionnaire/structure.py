"""No silent loss: what a reader would drop without a word, turned into problems that name the cells.

The readers see values only. What the streaming inspection (`guards.inspect_workbook`) saw in the XML, and
every non-empty cell outside the template's grid, becomes a problem (sheet, cell, message naming the rule):

- a sheet the template does not have (its contents would be ignored), a hidden template sheet;
- a formula in a template sheet (calamine reads only the cached value, and none if Excel never saved one);
- a merged range in a template sheet (only its top-left cell keeps a value);
- a value outside the template's cells (typed beside the grid, below it, or in a moved block).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from openpyxl.utils import get_column_letter

from ilms_dagster.questionnaire.guards import WorkbookFacts

Problem = tuple[str, str, str]  # (sheet, cell, message)


def sheet_problems(facts: WorkbookFacts, template_sheets: Iterable[str]) -> list[Problem]:
    """Extra and hidden sheets, formulas and merged ranges."""
    wanted = list(template_sheets)
    problems = []
    for name, sheet in facts.sheets.items():
        if name not in wanted:
            problems.append(
                (
                    name,
                    "-",
                    "this sheet is not part of the template, so its contents would be ignored; "
                    "move them into the template's sheets or delete the sheet (rule: template sheets only)",
                )
            )
            continue
        if sheet.state != "visible":
            problems.append(
                (name, "-", f"the sheet is {sheet.state}; unhide it and check its contents (rule: no hidden sheets)")
            )
        for cell in sheet.formulas[:20]:
            problems.append(
                (
                    name,
                    cell,
                    "the cell holds a formula; type or paste the value itself "
                    "(Paste Special > Values) (rule: values, not formulas)",
                )
            )
        if len(sheet.formulas) > 20:
            problems.append(
                (name, "-", f"... and {len(sheet.formulas) - 20} more cells with formulas (rule: values, not formulas)")
            )
        for cells in sheet.merged[:20]:
            problems.append(
                (
                    name,
                    cells,
                    "merged cells keep only the first cell's value; unmerge them and fill each "
                    "cell (rule: no merged cells)",
                )
            )
    return problems


def outside_grid(
    sheet: str, grid: list[list[object]], allowed: frozenset[tuple[int, int]], margins: Margins | None = None
) -> list[Problem]:
    """Every non-empty cell of `grid` at a (row, column) the template has no cell for. The grid is first
    looked at only where such cells can be, as whole slices (below the template, right of it, the gaps inside
    it); only a grid with a value there is gone through cell by cell, for the problems in reading order.
    `margins` are `margins(allowed)` where the caller keeps them."""
    if _blank_outside(grid, *(margins or margins_of(allowed))):
        return []
    problems = []
    for r, line in enumerate(grid, start=1):
        for c, value in enumerate(line, start=1):
            if value is not None and value != "" and (r, c) not in allowed:
                problems.append(
                    (
                        sheet,
                        f"{get_column_letter(c)}{r}",
                        f"a value ({_short(value)}) outside the template's cells would be ignored; move it into "
                        f"the right input cell or delete it (rule: values inside the grid)",
                    )
                )
    if len(problems) > 20:
        problems = problems[:20] + [
            (sheet, "-", f"... and {len(problems) - 20} more values outside the template's cells")
        ]
    return problems


Margins = tuple[int, int, tuple[tuple[int, int, int], ...]]


@cache
def margins_of(allowed: frozenset[tuple[int, int]]) -> Margins:
    """(height, width, gaps) of the template's cells: a cell is allowed only within height x width, and not in a
    gap (0-based row, first column, end column) of a row there. Cached by the set: a hit on an equal set that is
    another object compares the two (~14 us for a table's), so a layout keeps its own (`SheetCells.margins`)."""
    height = max((r for r, _ in allowed), default=0)
    width = max((c for _, c in allowed), default=0)
    gaps = []
    for r in range(1, height + 1):
        c = 1
        while c <= width:
            if (r, c) in allowed:
                c += 1
                continue
            end = c
            while end <= width and (r, end) not in allowed:
                end += 1
            gaps.append((r - 1, c - 1, end - 1))
            c = end
    return height, width, tuple(gaps)


def _blank_outside(grid: list[list[object]], height: int, width: int, gaps: tuple[tuple[int, int, int], ...]) -> bool:
    """No value (anything but None or '') in the grid outside the template's cells."""
    if any(not _blank(line) for line in grid[height:]):
        return False
    inside = grid[:height]
    if inside and max(map(len, inside)) > width and not all(_blank(line[width:]) for line in inside):
        return False
    return all(_blank(grid[r][first:end]) for r, first, end in gaps if r < len(grid))


BLANKS = frozenset({None, ""})  # an empty cell, as either reader gives it


def _blank(cells: list[object]) -> bool:
    try:
        return BLANKS.issuperset(cells)
    except TypeError:  # an unhashable value is not blank
        return all(value is None or value == "" for value in cells)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
