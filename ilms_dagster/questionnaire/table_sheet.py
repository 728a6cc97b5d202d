"""Reading one table sheet of a submission against its layout: the header cells, the cells outside the grid,
every input cell's value or marker, and the partners typed in the rows left for them.

`SheetCells` is the layout resolved once per table, years and country (`workbook.sheet_cells`), laid out for
whole-row work: the header cells compared to the expected labels in one list comparison, the input cells
gathered row by row as slices and classified in bulk, a cell looked at alone only where something is not a
plain number (a marker, text, a date). The problems and their order are those of a cell-by-cell reading.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from itertools import chain, compress
from math import isfinite
from operator import itemgetter, not_

from openpyxl.utils import get_column_letter

from ilms_dagster.questionnaire.reader import Grid, cell_at, plain
from ilms_dagster.questionnaire.structure import Margins, Problem, margins_of, outside_grid
from ilms_dagster.registry import find_country

NOT_AVAILABLE, CONFIDENTIAL, ZERO = "..", "x", "-"
MARKER_NOTES = {NOT_AVAILABLE: "not available", CONFIDENTIAL: "confidential"}
# What the sheet loop collects per value, in this order; the rest of the tidy columns is the same for the workbook.
PARSED = ("table_id", "indicator", "sex", "classif1", "classif2", "time", "obs_value", "note", "cell")
Key = tuple  # (table_id, indicator, sex, classif1, classif2, year, cell reference)


@dataclass(frozen=True)
class SheetCells:
    """Where one table sheet's header and input cells are, for given years and reporting country."""

    sheet: str
    height: int  # rows and columns the grid must have
    width: int
    expected: tuple[tuple[int, int, object, str], ...]  # (row, col, wanted, what)
    inputs: tuple[tuple[int, int, Key], ...]  # every input cell of the listed rows, in order
    added: tuple[
        tuple[int, tuple[tuple[int, int, Key], ...]], ...
    ]  # (row, its inputs) of rows where partners are added
    prefix: str | None
    country: str | None
    allowed: frozenset[tuple[int, int]]  # every (row, col) the template writes or asks for: a value elsewhere is lost

    @cached_property
    def _header_values(self) -> list | None:
        """The labels in header order, or None where `found == wanted` would not imply the cell-by-cell check
        passes: it does for stripped text and whole numbers (a year: 2021.0 == 2021, str(plain(2021.0)) == "2021")."""
        wanted = [w for _, _, w, _ in self.expected]
        safe = all(type(w) is int or (type(w) is str and w and w == w.strip()) for w in wanted)
        return tuple(wanted) if safe else None

    @cached_property
    def _input_rows(self) -> tuple[tuple[int, ...], int, int] | None:
        """(0-based rows, first column, end column) when the listed inputs fill whole row spans in row order, as
        the template's do: the cells can then be gathered as slices."""
        rows = list(dict.fromkeys(r for r, _, _ in self.inputs))
        cols = list(dict.fromkeys(c for _, c, _ in self.inputs))
        if not cols or cols != list(range(cols[0], cols[0] + len(cols))):
            return None
        if [(r, c) for r, c, _ in self.inputs] != [(r, c) for r in rows for c in cols]:
            return None
        return tuple(r - 1 for r in rows), cols[0] - 1, cols[-1]

    @cached_property
    def key_columns(self) -> tuple[tuple, ...]:
        """The inputs' keys as columns (table id, indicator, sex, classif1, classif2, year, cell reference)."""
        return _columns([key for _, _, key in self.inputs])

    @cached_property
    def margins(self) -> Margins:
        return margins_of(self.allowed)

    @cached_property
    def _getters(self) -> dict[int, tuple]:
        return {}

    def getters(self, width: int) -> tuple:
        """(header cells, input cells) of a flat grid `width` cells wide (`flat_grid`), each one C-level call."""
        if (got := self._getters.get(width)) is None:
            got = self._getters[width] = (
                _getter([(r - 1) * width + c - 1 for r, c, _, _ in self.expected]),
                _getter([(r - 1) * width + c - 1 for r, c, _ in self.inputs]),
            )
        return got

    def headers_match(self, grid: Grid, flat: list | None = None) -> bool:
        """Every header cell holds its expected label (False also when the grid is too small to tell)."""
        if self._header_values is None:
            return False
        if flat is not None:
            return self.getters(len(grid[0]))[0](flat) == self._header_values
        try:
            return tuple(grid[r - 1][c - 1] for r, c, _, _ in self.expected) == self._header_values
        except IndexError:
            return False

    def input_cells(self, grid: Grid) -> list:
        """The raw values of the listed rows' input cells, in `inputs` order (`grid` padded to the layout)."""
        if self._input_rows is None:
            return [grid[r - 1][c - 1] for r, c, _ in self.inputs]
        rows, first, end = self._input_rows
        return list(chain.from_iterable(grid[r][first:end] for r in rows))


def read_table_sheet(grid: Grid, layout: SheetCells, problems: list[Problem], columns: dict[str, list]) -> None:
    """Append the sheet's values to `columns`, or its problems to `problems`."""
    sheet, before = layout.sheet, len(problems)
    flat = flat_grid(grid, layout.height, layout.width)
    if not layout.headers_match(grid, flat):
        for row, col, wanted, what in layout.expected:
            found = cell_at(grid, row, col)
            if str(found).strip() != str(wanted):
                problems.append(
                    (sheet, f"{get_column_letter(col)}{row}", f"expected {what} {wanted!r}, found {found!r}")
                )
    if len(problems) > before:  # moved rows or columns: values would land in the wrong series
        return
    problems += outside_grid(sheet, grid, layout.allowed, layout.margins)
    if flat is None:
        rows, width = len(grid), layout.width
        grid = [line if len(line) >= width else [*line, *[None] * (width - len(line))] for line in grid]
        grid += [[None] * width] * (layout.height - rows)
        raws = layout.input_cells(grid)
    else:
        raws = list(layout.getters(len(grid[0]))[1](flat))
    keys = layout.key_columns
    if added := (_added_partner_inputs(grid, layout, problems) if layout.added else ()):
        raws += [grid[r - 1][c - 1] for r, c, _ in added]
        keys = tuple(a + b for a, b in zip(keys, _columns([key for _, _, key in added]), strict=True))
    _read_values(raws, keys, sheet, problems, columns)


def flat_grid(grid: Grid, height: int, width: int) -> list | None:
    """The grid's cells row after row, where its rows are of one width and it has at least `height` rows and
    `width` columns (as both readers give a table sheet); else None."""
    if len(grid) < height or not grid or len(grid[0]) < width or len(set(map(len, grid))) != 1:
        return None
    return list(chain.from_iterable(grid))


def _getter(at: list[int]):
    """A function giving the tuple of items at `at` of a sequence."""
    if len(at) > 1:
        return itemgetter(*at)
    return lambda items: tuple(items[i] for i in at)


def _columns(keys: list[Key]) -> tuple[tuple, ...]:
    return tuple(zip(*keys)) if keys else ((),) * len(PARSED[:6]) + ((),)


def _pick(items, at: list[int]) -> list:
    """items[i] for every i in `at`, in one C-level call."""
    return list(itemgetter(*at)(items)) if len(at) > 1 else [items[i] for i in at]


def _filled(raws: list) -> list[int]:
    """The positions of the cells that are not blank (None or '')."""
    try:
        return list(compress(range(len(raws)), map(not_, map(_BLANKS.__contains__, raws))))
    except TypeError:  # an unhashable value: not blank
        return [i for i, raw in enumerate(raws) if raw is not None and raw != ""]


def _read_values(
    raws: list, keys: tuple[tuple, ...], sheet: str, problems: list[Problem], columns: dict[str, list]
) -> None:
    """Append every filled input cell (`raws`, keyed by the columns `keys`) to `columns`; a blank cell gives no
    row, a cell that is neither a number nor a marker a problem naming it."""
    kept = _filled(raws)
    values = _pick(raws, kept)
    notes = [None] * len(kept)
    if not (set(map(type, values)) <= {float} and all(map(isfinite, values))):  # a marker, text, a date...
        odd = [j for j, raw in enumerate(values) if type(raw) is not float or not isfinite(raw)]
        dropped = set()
        for j in odd:
            raw = values[j]
            value, note = _cell_value(raw)
            if value is _INVALID:
                problems.append(
                    (sheet, keys[6][kept[j]], f"expected a number or '..', 'x', '-', found {_kind(raw)} {raw!r}")
                )
            if value is _INVALID or value is _BLANK:
                dropped.add(j)
            else:
                values[j], notes[j] = value, note
        if dropped:
            kept, values, notes = ([x for j, x in enumerate(seq) if j not in dropped] for seq in (kept, values, notes))
    if not kept:
        return
    for name, column in zip((*PARSED[:6], "cell"), keys, strict=True):
        columns[name] += _pick(column, kept)
    columns["obs_value"] += values
    columns["note"] += notes


def _added_partner_inputs(grid: Grid, layout: SheetCells, problems: list[Problem]) -> tuple:
    """The input cells of the rows where partners were added, keyed by the partner typed in column A (or B)."""
    out, seen = [], {}
    listed = {key[3] for _, _, key in layout.inputs}
    for row, cells in layout.added:
        typed = next((v for v in (plain(grid[row - 1][0]), plain(grid[row - 1][1])) if v not in (None, "")), None)
        filled = any(grid[r - 1][c - 1] not in (None, "") for r, c, _ in cells)
        if typed is None:
            if filled:
                problems.append(
                    (
                        layout.sheet,
                        f"A{row}",
                        "the row has values but no partner country: type its ISO3 "
                        "code or name in column A (rule: an added row names its partner)",
                    )
                )
            continue
        iso = find_country(typed)
        code = f"{layout.prefix}_{iso}"
        year = cells[0][2][5]
        if iso is None:
            problems.append(
                (
                    layout.sheet,
                    f"A{row}",
                    f"{typed!r} is not a country's ISO 3166-1 code or name (see sheet "
                    "'Partner countries') (rule: partner countries from ISO 3166-1)",
                )
            )
        elif iso == layout.country:
            problems.append(
                (
                    layout.sheet,
                    f"A{row}",
                    f"{typed!r} is the reporting country itself, not a partner (rule: no country is its own partner)",
                )
            )
        elif code in listed:
            problems.append(
                (
                    layout.sheet,
                    f"A{row}",
                    f"{typed!r} has a row of its own in this table: enter its values there (rule: one row per partner)",
                )
            )
        elif (year, code) in seen:
            problems.append(
                (
                    layout.sheet,
                    f"A{row}",
                    f"{typed!r} is already added in row {seen[year, code]} for this year (rule: one row per partner)",
                )
            )
        else:
            seen[year, code] = row
            out += [(r, c, (*key[:3], code, *key[4:])) for r, c, key in cells]
    return tuple(out)


_BLANK, _INVALID = object(), object()
_BLANKS = frozenset({None, ""})


def _kind(raw) -> str:
    if isinstance(raw, bool):
        return "a true/false value"
    if isinstance(raw, int | float):
        return "the non-finite number"
    return "text" if isinstance(raw, str) else f"a {type(raw).__name__} value"


def _cell_value(raw) -> tuple[object, str | None]:
    """(obs_value, note) of one input cell; _BLANK for an empty cell, _INVALID for anything else."""
    if raw is None:
        return _BLANK, None
    if isinstance(raw, bool):
        return _INVALID, None
    if isinstance(raw, int | float):
        return (float(raw), None) if isfinite(raw) else (_INVALID, None)
    text = str(raw).strip()
    if text == "":
        return _BLANK, None
    if text == ZERO:
        return 0.0, None
    if text.lower() in MARKER_NOTES:
        return None, MARKER_NOTES[text.lower()]
    return _INVALID, None
