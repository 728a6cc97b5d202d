"""The ILMQ workbook: one layout, used both to write the template (ilms_dagster/questionnaire/template.py) and to parse submissions.

Layout (project convention, reference s.6): a `Metadata` sheet of key/label/value rows, then one sheet
per registry table with categories in rows, sex x migratory status in columns and one block per
reference year. Cell positions come only from `SheetLayout`, so template and parser cannot drift.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import cache, cached_property
from pathlib import Path

import pandas as pd
import pyarrow as pa
from openpyxl.utils import get_column_letter

from ilms_dagster.questionnaire.annotations import NOTES_SHEET, apply_annotations, read_annotations
from ilms_dagster.questionnaire.guards import FileRejected, inspect_stepwise, quoted
from ilms_dagster.questionnaire.reader import UnreadableWorkbook, as_date_text, cell_at, read_grids
from ilms_dagster.questionnaire.structure import outside_grid, sheet_problems
from ilms_dagster.questionnaire.table_sheet import (  # noqa: F401 (the markers, as the template writes them)
    CONFIDENTIAL,
    MARKER_NOTES,
    NOT_AVAILABLE,
    PARSED,
    ZERO,
    SheetCells,
    read_table_sheet,
)
from ilms_dagster.registry import FAMILIES, PARTNER_ROWS_TO_ADD, TABLES, TEMPLATE_VERSION, TableSpec, reference_years

METADATA_SHEET = "Metadata"
# Sheets the template writes for reading only (the parser reads the Metadata, table and Notes sheets).
REFERENCE_SHEETS = ("Contents", "Definitions", "Partner countries")

# (key, label); the value goes in column C of the row. Order is the row order.
METADATA_FIELDS: list[tuple[str, str]] = [
    ("template_version", "Template version (do not edit)"),
    ("country", "Country (ISO 3166-1 alpha-3 code)"),
    ("round", "Collection round (year)"),
    ("focal_point", "Focal point (name)"),
    ("institution", "Institution"),
    ("email", "E-mail"),
    ("source_stocks", "Source of stock tables (<type>:<name>, e.g. BA:Labour Force Survey)"),
    ("source_flows", "Source of flow tables (<type>:<name>, e.g. ADM:Work permit register)"),
    ("reference_period", "Reference period of the data"),
    ("submission_date", "Submission date (YYYY-MM-DD)"),
]
METADATA_FIRST_ROW = 4
_METADATA_CELLS = frozenset(
    {(1, 1), (2, 1)} | {(METADATA_FIRST_ROW + i, c) for i in range(len(METADATA_FIELDS)) for c in (1, 2, 3)}
)
TIDY_COLUMNS = [
    "ref_area",
    "round",
    "indicator",
    "source",
    "sex",
    "classif1",
    "classif2",
    "time",
    "obs_value",
    "obs_status",
    "note",
    "cell",
    "submission_sha256",
]

TIDY_DTYPES = {c: "string" for c in TIDY_COLUMNS} | {"round": "int64", "time": "int64", "obs_value": "float64"}


class SubmissionError(ValueError):
    """A workbook that cannot be ingested; every problem names file, sheet and cell."""

    def __init__(self, file: str | Path, problems: list[tuple[str, str, str]]):
        self.file = str(file)
        self.problems = problems  # (sheet, cell, message)
        lines = [f"{quoted(self.file)}: {len(problems)} problem(s) in the workbook"]
        lines += [
            f"  - {where(sheet, cell)}{' ' if msg.startswith('is ') else ': '}{msg}"
            for sheet, cell, msg in problems[:50]
        ]
        if len(problems) > 50:
            lines.append(f"  ... and {len(problems) - 50} more")
        super().__init__("\n".join(lines))


def where(sheet: str, cell: str) -> str:
    """How a problem names its place: the sheet and cell, or the whole file."""
    if sheet == "-":
        return "the file"
    return f"sheet {sheet!r}, cell {cell}"


@dataclass(frozen=True)
class SheetLayout:
    """Where everything of one table sheet sits, for a given list of reference years and reporting country.

    A block lists the table's template rows; a partner-country table leaves out the reporting country itself
    and has PARTNER_ROWS_TO_ADD blank rows before its last row (`_X`), where a partner not listed is added by
    typing its ISO3 code or name in column A or B."""

    table: TableSpec
    years: tuple[int, ...]
    country: str | None = None
    TITLE_ROW = 1
    ID_CELL = "B5"
    FIRST_BLOCK_ROW = 7
    FIRST_VALUE_COL = 3  # column C; A = category code, B = category label

    @cached_property
    def rows(self) -> tuple[str | None, ...]:
        """The classif1 code of each row of a block, in order; None for a row where a partner is added."""
        codes = list(self.table.categories)
        if (prefix := self.table.partner_prefix) is None:
            return tuple(codes)
        codes = [c for c in codes if c != f"{prefix}_{self.country}"]
        return (*codes[:-1], *[None] * PARTNER_ROWS_TO_ADD, codes[-1])

    @property
    def block_height(self) -> int:
        return 4 + len(self.rows)

    def block_row(self, year_index: int) -> int:
        """Row of the 'Reference year' cell of a block; headers follow, then the categories."""
        return self.FIRST_BLOCK_ROW + year_index * (self.block_height + 1)

    def cells(self) -> Iterator[tuple[int, str | None, int, int, object]]:
        """Yield (year, classif1, row, column, Column) for every input cell (classif1 None: a row to add a partner)."""
        for k, year in enumerate(self.years):
            first = self.block_row(k) + 4
            for i, code in enumerate(self.rows):
                for j, column in enumerate(self.table.columns):
                    yield year, code, first + i, self.FIRST_VALUE_COL + j, column

    def added_rows(self, year_index: int) -> list[int]:
        """The sheet rows of a block where partners are added."""
        first = self.block_row(year_index) + 4
        return [first + i for i, code in enumerate(self.rows) if code is None]

    def cell_ref(self, year: int, classif1: str, sex: str, classif2: str | None) -> str:
        """The cell (e.g. "D23") of one value of a listed row."""
        for y, code, row, col, column in self.cells():
            if (y, code, column.sex, column.classif2) == (year, classif1, sex, classif2):
                return f"{get_column_letter(col)}{row}"
        raise KeyError(f"{self.table.id} has no cell for {(year, classif1, sex, classif2)}")

    def input_range(self, year_index: int) -> str:
        first = self.block_row(year_index) + 4
        last = first + len(self.rows) - 1
        last_col = get_column_letter(self.FIRST_VALUE_COL + len(self.table.columns) - 1)
        return f"C{first}:{last_col}{last}"


ValueKey = tuple[str, int, str, str, "str | None"]  # (table id, year, classif1, sex, classif2)


# ---------------------------------------------------------------- parsing


@dataclass
class Submission:
    """A parsed workbook: its metadata, one tidy frame of every value (TIDY_COLUMNS + table_id) and the
    same split by table."""

    metadata: dict[str, object]
    frame: pd.DataFrame
    cells_total: dict[str, int]

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """{table id: its rows (TIDY_COLUMNS)} for every table parsed, empty frames included."""
        parts = dict(tuple(self.frame.groupby("table_id", sort=False, observed=True)))
        empty = self.frame.iloc[0:0]
        return {t: parts.get(t, empty).drop(columns="table_id").reset_index(drop=True) for t in self.cells_total}


def parse_workbook(
    path: Path,
    country: str,
    round_: str | int,
    sha256: str = "",
    tables: list[TableSpec] | None = None,
    name: str | None = None,
    reader: str = "calamine",
) -> Submission:
    """Read a submission into tidy frames, or raise SubmissionError listing every problem found.

    The workbook must be the template of this country and round: same version, same sheets, codes and
    years. Blank cells are missing (no row); '..' and 'x' give a row with no value and a note; '-' is 0.
    `name` is how errors name the file (the name it was received under, not its archive path); `reader`
    is python-calamine (fast) or openpyxl (the reference): both give identical results.
    """
    label = name or Path(path).name
    tables = tables or list(TABLES.values())
    try:
        return _parse(Path(path), country, round_, sha256, tables, label, reader)
    except SubmissionError:
        raise
    except FileRejected as exc:
        raise SubmissionError(label, [(exc.sheet, exc.cell, str(exc))]) from None
    except UnreadableWorkbook as exc:
        raise SubmissionError(
            label, [("-", "-", f"not a readable .xlsx workbook ({exc}) (rule: a readable .xlsx workbook)")]
        ) from None
    except Exception as exc:  # a reader's or the parser's own failure on a hostile file: still the file's problem
        raise SubmissionError(
            label,
            [
                (
                    "-",
                    "-",
                    f"could not be read ({type(exc).__name__}: {str(exc)[:200]}) (rule: a readable .xlsx workbook)",
                )
            ],
        ) from None


def _parse(
    path: Path, country: str, round_, sha256: str, tables: list[TableSpec], label: str, reader: str
) -> Submission:
    steps = inspect_stepwise(path)  # every size limit, before a reader decompresses a part
    facts = next(steps)  # the zip's directory, workbook part and shared strings; the sheets as the reader goes
    sheet_names, grids = read_grids(path, [METADATA_SHEET, NOTES_SHEET, *(t.sheet for t in tables)], reader, steps)
    with grids:  # calamine may still be reading the later sheets: a grid is waited for where it is looked up
        return _parse_grids(facts, sheet_names, grids, country, round_, sha256, tables, label)


def _parse_grids(
    facts, sheet_names: list[str], grids, country: str, round_, sha256: str, tables: list[TableSpec], label: str
) -> Submission:
    if METADATA_SHEET not in sheet_names:
        raise SubmissionError(label, [(METADATA_SHEET, "-", "sheet is missing")])
    structure = sheet_problems(
        facts,
        [
            METADATA_SHEET,
            *REFERENCE_SHEETS,
            NOTES_SHEET,
            *(t.sheet for t in TABLES.values()),
            *(t.sheet for t in tables),
        ],
    )
    problems: list[tuple[str, str, str]] = outside_grid(METADATA_SHEET, grids[METADATA_SHEET], _METADATA_CELLS)
    meta = _read_metadata(grids[METADATA_SHEET], problems)
    _check_metadata(meta, country, round_, problems)
    if problems:  # a wrong version or partition makes the table layout meaningless
        raise SubmissionError(label, structure + problems)
    problems = structure + _metadata_value_problems(meta)  # reported with the tables' problems, in one pass
    years = tuple(reference_years(round_))
    columns: dict[str, list] = {c: [] for c in PARSED}
    cells_total = {}
    for table in tables:
        if table.sheet not in grids:
            problems.append((table.sheet, "-", "sheet is missing"))
            continue
        layout = _layout_cells(table, years, country)
        read_table_sheet(grids[table.sheet], layout, problems, columns)
        cells_total[table.id] = len(layout.inputs)
    if not problems and not columns["cell"]:
        problems.append(
            (
                "-",
                "-",
                "the workbook has no values at all (every input cell is blank): a blank template "
                "is not a submission; fill it in, or write to the ILMS team to withdraw one "
                "(rule: a submission holds values)",
            )
        )
    by_id = {t.id: t for t in tables if t.id in cells_total}
    annotations = read_annotations(grids[NOTES_SHEET], by_id, years, problems) if NOTES_SHEET in grids else []
    frame = _tidy(columns, meta, country, round_, sha256, tables)
    frame = apply_annotations(frame, annotations, by_id, problems)
    if problems:
        raise SubmissionError(label, problems)
    return Submission(meta, frame, cells_total)


def _tidy(
    columns: dict[str, list], meta: dict, country: str, round_, sha256: str, tables: list[TableSpec]
) -> pd.DataFrame:
    """One frame of every value, built column-wise in Arrow (a frame per table costs more than parsing); the
    columns the same for a whole workbook or table are repeated in Arrow, not built from Python lists."""
    n = len(columns["cell"])
    family = {t.id: t.family for t in tables}  # the tables parsed (a new registry entry too), not only TABLES
    sources = {fam: meta.get("source_stocks" if fam == "stock" else "source_flows") for fam in FAMILIES}
    table_id = pa.array(columns["table_id"], type=pa.string()).dictionary_encode()
    source = pa.array(
        [None if (v := sources[family[t]]) is None else str(v) for t in table_id.dictionary.to_pylist()],
        type=pa.string(),
    ).take(table_id.indices)
    data = {
        "table_id": table_id.dictionary.take(table_id.indices),
        "ref_area": pa.repeat(pa.scalar(country, pa.string()), n),
        "round": pa.repeat(pa.scalar(int(round_), pa.int64()), n),
        "source": source,
        "obs_status": pa.nulls(n, pa.string()),
        "submission_sha256": pa.repeat(pa.scalar(sha256, pa.string()), n),
    }
    types = {
        c: pa.int64() if c in ("round", "time") else pa.float64() if c == "obs_value" else pa.string()
        for c in ["table_id", *TIDY_COLUMNS]
    }
    table = pa.table({c: data[c] if c in data else pa.array(columns[c], type=t) for c, t in types.items()})
    return table.to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get)


def _read_metadata(grid, problems) -> dict[str, object]:
    meta = {}
    for offset, (key, _) in enumerate(METADATA_FIELDS):
        row = METADATA_FIRST_ROW + offset
        found = cell_at(grid, row, 1)
        if found != key:
            problems.append((METADATA_SHEET, f"A{row}", f"expected field {key!r}, found {found!r}"))
        meta[key] = as_date_text(cell_at(grid, row, 3))
    return meta


def _check_metadata(meta, country, round_, problems) -> None:
    row = {key: METADATA_FIRST_ROW + i for i, (key, _) in enumerate(METADATA_FIELDS)}
    if meta.get("template_version") != TEMPLATE_VERSION:
        problems.append(
            (
                METADATA_SHEET,
                f"C{row['template_version']}",
                f"template version {meta.get('template_version')!r} is not the current {TEMPLATE_VERSION!r}; "
                f"download a new template",
            )
        )
    if str(meta.get("country") or "").strip().upper() != country:
        problems.append(
            (
                METADATA_SHEET,
                f"C{row['country']}",
                f"country {meta.get('country')!r} does not match the submission's partition {country!r}",
            )
        )
    if str(meta.get("round") or "").strip() != str(round_):
        problems.append(
            (
                METADATA_SHEET,
                f"C{row['round']}",
                f"round {meta.get('round')!r} does not match the submission's partition {round_!r}",
            )
        )


def _metadata_value_problems(meta) -> list[tuple[str, str, str]]:
    """Problems of metadata values that do not move the tables (reported beside the tables' own)."""
    row = {key: METADATA_FIRST_ROW + i for i, (key, _) in enumerate(METADATA_FIELDS)}
    submitted = meta.get("submission_date")
    if submitted not in (None, ""):
        try:
            date.fromisoformat(str(submitted))
        except ValueError:
            return [
                (
                    METADATA_SHEET,
                    f"C{row['submission_date']}",
                    f"submission date {submitted!r} is not a YYYY-MM-DD date (rule: dates as YYYY-MM-DD)",
                )
            ]
    return []


@cache
def _layout_cells(table: TableSpec, years: tuple[int, ...], country: str | None = None) -> SheetCells:
    layout = SheetLayout(table, years, country)
    expected = [(5, 2, table.id, "table id")]
    for k, year in enumerate(years):
        top = layout.block_row(k)
        expected.append((top, 2, year, "reference year"))
        expected += [
            (top + 3, layout.FIRST_VALUE_COL + j, column.code, "column code") for j, column in enumerate(table.columns)
        ]
        expected += [(top + 4 + i, 1, code, "category code") for i, code in enumerate(layout.rows) if code]
    inputs, added = [], {}
    for year, code, row, col, column in layout.cells():
        key = (table.id, column.indicator, column.sex, code, column.classif2, year, f"{get_column_letter(col)}{row}")
        (inputs if code else added.setdefault(row, [])).append((row, col, key))
    height = layout.block_row(len(years) - 1) + layout.block_height
    width = layout.FIRST_VALUE_COL + len(table.columns) - 1
    allowed = {(1, 1), (2, 1), (2, 2), (3, 1), (3, 2), (4, 1), (5, 1), (5, 2)} | {(r, c) for r, c, _ in inputs}
    allowed |= {(r, c) for cells in added.values() for r, c, _ in cells}
    for k in range(len(years)):
        top = layout.block_row(k)
        allowed |= {(top, c) for c in range(1, width + 1)} | {(top + 1, c) for c in range(1, width + 1)}  # headings
        allowed |= {(top + d, c) for d in (2, 3) for c in range(layout.FIRST_VALUE_COL, width + 1)}
        allowed |= {(top + 4 + i, c) for i in range(len(layout.rows)) for c in (1, 2)}
    return SheetCells(
        table.sheet,
        height,
        width,
        tuple(expected),
        tuple(inputs),
        tuple((row, tuple(cells)) for row, cells in added.items()),
        table.partner_prefix,
        country,
        frozenset(allowed),
    )
