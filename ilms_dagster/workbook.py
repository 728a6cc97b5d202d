"""The ILMQ workbook: one layout, used both to write the template and to parse submissions.

Layout (project convention, reference s.6): a `Metadata` sheet of key/label/value rows, then one sheet
per registry table with categories in rows, sex x migratory status in columns and one block per
reference year. Cell positions come only from `SheetLayout`, so template and parser cannot drift.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pandas as pd
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill, Protection
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from ilms_dagster.registry import COUNTRY_NAMES, TABLES, TEMPLATE_VERSION, UNITS, TableSpec, reference_years

METADATA_SHEET = "Metadata"
NOT_AVAILABLE, CONFIDENTIAL, ZERO = "..", "x", "-"
MARKER_NOTES = {NOT_AVAILABLE: "not available", CONFIDENTIAL: "confidential"}

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
TIDY_COLUMNS = [
    "ref_area", "round", "indicator", "source", "sex", "classif1", "classif2",
    "time", "obs_value", "obs_status", "note", "cell", "submission_sha256",
]  # fmt: skip

TIDY_DTYPES = {c: "string" for c in TIDY_COLUMNS} | {"round": "int64", "time": "int64", "obs_value": "float64"}

_BOLD = Font(bold=True)
_CODE = Font(color="808080", size=8)
_INPUT_FILL = PatternFill("solid", fgColor="FFF9E5")
_INSTRUCTIONS = (
    "Enter figures in the unit shown, one block per reference year. Leave a cell blank if the figure is "
    "not collected; type '..' if not available, 'x' if confidential, '-' or 0 for a true zero. "
    "Do not edit codes, headers or years."
)


class SubmissionError(ValueError):
    """A workbook that cannot be ingested; every problem names file, sheet and cell."""

    def __init__(self, file: str | Path, problems: list[tuple[str, str, str]]):
        self.file = str(file)
        self.problems = problems  # (sheet, cell, message)
        lines = [f"{self.file}: {len(problems)} problem(s) in the workbook"]
        lines += [f"  - sheet {sheet!r}, cell {cell}: {msg}" for sheet, cell, msg in problems[:50]]
        if len(problems) > 50:
            lines.append(f"  ... and {len(problems) - 50} more")
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class SheetLayout:
    """Where everything of one table sheet sits, for a given list of reference years."""

    table: TableSpec
    years: tuple[int, ...]
    TITLE_ROW = 1
    ID_CELL = "B5"
    FIRST_BLOCK_ROW = 7
    FIRST_VALUE_COL = 3  # column C; A = category code, B = category label

    @property
    def block_height(self) -> int:
        return 4 + len(self.table.categories)

    def block_row(self, year_index: int) -> int:
        """Row of the 'Reference year' cell of a block; headers follow, then the categories."""
        return self.FIRST_BLOCK_ROW + year_index * (self.block_height + 1)

    def cells(self) -> Iterator[tuple[int, str, int, int, object]]:
        """Yield (year, classif1, row, column, Column) for every input cell."""
        for k, year in enumerate(self.years):
            first = self.block_row(k) + 4
            for i, code in enumerate(self.table.categories):
                for j, column in enumerate(self.table.columns):
                    yield year, code, first + i, self.FIRST_VALUE_COL + j, column

    def cell_ref(self, year: int, classif1: str, sex: str, classif2: str | None) -> str:
        """The cell (e.g. "D23") of one value."""
        for y, code, row, col, column in self.cells():
            if (y, code, column.sex, column.classif2) == (year, classif1, sex, classif2):
                return f"{get_column_letter(col)}{row}"
        raise KeyError(f"{self.table.id} has no cell for {(year, classif1, sex, classif2)}")

    def input_range(self, year_index: int) -> str:
        first = self.block_row(year_index) + 4
        last = first + len(self.table.categories) - 1
        last_col = get_column_letter(self.FIRST_VALUE_COL + len(self.table.columns) - 1)
        return f"C{first}:{last_col}{last}"


ValueKey = tuple[str, int, str, str, "str | None"]  # (table id, year, classif1, sex, classif2)


def write_workbook(
    path: Path,
    country: str,
    round_: str | int,
    values: Mapping[ValueKey, float | str] | None = None,
    metadata: Mapping[str, object] | None = None,
    tables: list[TableSpec] | None = None,
) -> Path:
    """Write the ILMQ workbook for a country and round, optionally filled with `values`.

    The zip is written with fixed timestamps so the same content always gives the same bytes (and hash).
    """
    values = values or {}
    years = tuple(reference_years(round_))
    meta = {
        "template_version": TEMPLATE_VERSION,
        "country": country,
        "round": int(round_),
        "reference_period": f"{years[0]}-{years[-1]}",
    } | dict(metadata or {})
    wb = openpyxl.Workbook()
    wb.properties.creator = "ilms-dagster"
    wb.properties.created = wb.properties.modified = datetime(2000, 1, 1)
    _write_metadata(wb.active, country, meta)
    for table in tables or TABLES.values():
        _write_table_sheet(wb.create_sheet(table.sheet), SheetLayout(table, years), values)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    wb.save(buffer)
    path.write_bytes(_normalise_zip(buffer.getvalue()))
    return path


def _normalise_zip(data: bytes) -> bytes:
    """Fix the zip entry times and the save time openpyxl stamps into docProps/core.xml."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2000-01-01T00:00:00Z", content)
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0)), content,
                         compress_type=zipfile.ZIP_DEFLATED)  # fmt: skip
    return out.getvalue()


def _write_metadata(ws, country: str, meta: Mapping[str, object]) -> None:
    ws.title = METADATA_SHEET
    ws["A1"] = f"International Labour Migration Questionnaire (ILMQ) - {COUNTRY_NAMES.get(country, country)}"
    ws["A1"].font = Font(bold=True, size=14)
    ws["A2"] = _INSTRUCTIONS
    for offset, (key, label) in enumerate(METADATA_FIELDS):
        row = METADATA_FIRST_ROW + offset
        ws.cell(row, 1, key).font = _CODE
        ws.cell(row, 2, label).font = _BOLD
        cell = ws.cell(row, 3, meta.get(key))
        if key != "template_version":
            cell.protection = Protection(locked=False)
            cell.fill = _INPUT_FILL
    ws.column_dimensions["A"].width = 18
    ws.column_dimensions["B"].width = 60
    ws.column_dimensions["C"].width = 40
    ws.protection.sheet = True


def _write_table_sheet(ws, layout: SheetLayout, values: Mapping[ValueKey, float | str]) -> None:
    table = layout.table
    ws["A1"] = table.title
    ws["A1"].font = Font(bold=True, size=13)
    ws["A2"], ws["B2"] = "Indicator", ", ".join(table.indicators)
    ws["A3"], ws["B3"] = "Unit", UNITS[table.unit].label
    ws["A4"] = _INSTRUCTIONS
    ws["A5"], ws[SheetLayout.ID_CELL] = "Table id", table.id
    for k, year in enumerate(layout.years):
        top = layout.block_row(k)
        ws.cell(top, 1, "Reference year").font = _BOLD
        ws.cell(top, 2, year).font = _BOLD
        ws.cell(top + 1, 1, "Code").font = _BOLD
        ws.cell(top + 1, 2, "Category").font = _BOLD
        for j, column in enumerate(table.columns):
            col = layout.FIRST_VALUE_COL + j
            ws.cell(top + 1, col, column.label).font = _BOLD
            ws.cell(top + 1, col).alignment = Alignment(wrap_text=True)
            ws.cell(top + 2, col, column.indicator).font = _CODE
            ws.cell(top + 3, col, column.code).font = _CODE
        for i, (code, label) in enumerate(table.categories.items()):
            ws.cell(top + 4 + i, 1, code).font = _CODE
            ws.cell(top + 4 + i, 2, label)
        validation = DataValidation(
            type="custom",
            formula1=f'OR(ISNUMBER({layout.input_range(k).split(":")[0]}),'
            + ",".join(f'{layout.input_range(k).split(":")[0]}="{m}"' for m in (NOT_AVAILABLE, CONFIDENTIAL, ZERO))
            + ")",
            showErrorMessage=True,
            errorTitle="ILMQ input",
            error="Enter a number, '..' (not available), 'x' (confidential) or '-' (zero).",
        )
        validation.add(layout.input_range(k))
        ws.add_data_validation(validation)
    for year, code, row, col, column in layout.cells():
        cell = ws.cell(row, col, values.get((table.id, year, code, column.sex, column.classif2)))
        cell.protection = Protection(locked=False)
        cell.fill = _INPUT_FILL
    ws.cell(SheetLayout.FIRST_BLOCK_ROW + 1, 3).comment = Comment(_INSTRUCTIONS, "ilms-dagster")
    ws.column_dimensions["A"].width = 24
    ws.column_dimensions["B"].width = 40
    for j in range(len(table.columns)):
        ws.column_dimensions[get_column_letter(layout.FIRST_VALUE_COL + j)].width = 14
    ws.freeze_panes = "C7"
    ws.protection.sheet = True


# ---------------------------------------------------------------- parsing


@dataclass
class Submission:
    """A parsed workbook: its metadata and one tidy frame per table (TIDY_COLUMNS)."""

    metadata: dict[str, object]
    tables: dict[str, pd.DataFrame]
    cells_total: dict[str, int]


def parse_workbook(
    path: Path,
    country: str,
    round_: str | int,
    sha256: str = "",
    tables: list[TableSpec] | None = None,
    name: str | None = None,
) -> Submission:
    """Read a submission into tidy frames, or raise SubmissionError listing every problem found.

    The workbook must be the template of this country and round: same version, same sheets, codes and
    years. Blank cells are missing (no row); '..' and 'x' give a row with no value and a note; '-' is 0.
    `name` is how errors name the file (the name it was received under, not its archive path).
    """
    label = name or Path(path).name
    problems: list[tuple[str, str, str]] = []
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a non-workbook
        raise SubmissionError(label, [("-", "-", f"not a readable .xlsx workbook ({type(exc).__name__}: {exc})")])
    try:
        if METADATA_SHEET not in wb.sheetnames:
            raise SubmissionError(label, [(METADATA_SHEET, "-", "sheet is missing")])
        meta = _read_metadata(wb[METADATA_SHEET], problems)
        _check_metadata(meta, country, round_, problems)
        if problems:  # a wrong version or partition makes the table layout meaningless
            raise SubmissionError(label, problems)
        years = tuple(reference_years(round_))
        frames, cells_total = {}, {}
        for table in tables or TABLES.values():
            if table.sheet not in wb.sheetnames:
                problems.append((table.sheet, "-", "sheet is missing"))
                continue
            layout = SheetLayout(table, years)
            rows = _read_table_sheet(wb[table.sheet], layout, problems)
            frame = pd.DataFrame(rows, columns=["indicator", "sex", "classif1", "classif2", "time",
                                                "obs_value", "note", "cell"])  # fmt: skip
            source = meta.get("source_stocks" if table.family == "stock" else "source_flows")
            frame.insert(0, "ref_area", country)
            frame.insert(1, "round", int(round_))
            frame.insert(3, "source", None if source is None else str(source))
            frame.insert(9, "obs_status", None)
            frame["submission_sha256"] = sha256
            frames[table.id] = frame[TIDY_COLUMNS].astype(TIDY_DTYPES)
            cells_total[table.id] = len(table.categories) * len(table.columns) * len(years)
    finally:
        wb.close()
    if problems:
        raise SubmissionError(label, problems)
    return Submission(meta, frames, cells_total)


def _read_metadata(ws, problems) -> dict[str, object]:
    meta = {}
    for offset, (key, _) in enumerate(METADATA_FIELDS):
        row = METADATA_FIRST_ROW + offset
        found = ws.cell(row, 1).value
        if found != key:
            problems.append((METADATA_SHEET, f"A{row}", f"expected field {key!r}, found {found!r}"))
        value = ws.cell(row, 3).value
        meta[key] = value.date().isoformat() if isinstance(value, datetime) else value
    return meta


def _check_metadata(meta, country, round_, problems) -> None:
    row = {key: METADATA_FIRST_ROW + i for i, (key, _) in enumerate(METADATA_FIELDS)}
    if meta.get("template_version") != TEMPLATE_VERSION:
        problems.append((METADATA_SHEET, f"C{row['template_version']}",
                         f"template version {meta.get('template_version')!r} is not the current {TEMPLATE_VERSION!r}; "
                         f"download a new template"))  # fmt: skip
    if str(meta.get("country") or "").strip().upper() != country:
        problems.append((METADATA_SHEET, f"C{row['country']}",
                         f"country {meta.get('country')!r} does not match the submission's partition {country!r}"))
    if str(meta.get("round") or "").strip() != str(round_):
        problems.append((METADATA_SHEET, f"C{row['round']}",
                         f"round {meta.get('round')!r} does not match the submission's partition {round_!r}"))
    submitted = meta.get("submission_date")
    if submitted not in (None, ""):
        try:
            date.fromisoformat(str(submitted))
        except ValueError:
            problems.append((METADATA_SHEET, f"C{row['submission_date']}",
                             f"submission date {submitted!r} is not a YYYY-MM-DD date"))  # fmt: skip


def _read_table_sheet(ws, layout: SheetLayout, problems) -> list[tuple]:
    table, sheet = layout.table, layout.table.sheet
    last_row = layout.block_row(len(layout.years) - 1) + layout.block_height
    last_col = layout.FIRST_VALUE_COL + len(table.columns) - 1
    grid = [list(r) for r in ws.iter_rows(min_row=1, max_row=last_row, max_col=last_col, values_only=True)]
    grid += [[None] * last_col for _ in range(last_row - len(grid))]

    def at(row: int, col: int):
        line = grid[row - 1]
        return line[col - 1] if col <= len(line) else None

    def expect(row: int, col: int, wanted, what: str) -> bool:
        found = at(row, col)
        if str(found).strip() != str(wanted):
            problems.append((sheet, f"{get_column_letter(col)}{row}", f"expected {what} {wanted!r}, found {found!r}"))
            return False
        return True

    before = len(problems)
    expect(5, 2, table.id, "table id")
    for k, year in enumerate(layout.years):
        top = layout.block_row(k)
        expect(top, 2, year, "reference year")
        for j, column in enumerate(table.columns):
            expect(top + 3, layout.FIRST_VALUE_COL + j, column.code, "column code")
        for i, code in enumerate(table.categories):
            expect(top + 4 + i, 1, code, "category code")
    if len(problems) > before:  # moved rows or columns: values would land in the wrong series
        return []
    rows = []
    for year, code, row, col, column in layout.cells():
        raw = at(row, col)
        ref = f"{get_column_letter(col)}{row}"
        value, note = _cell_value(raw)
        if value is _INVALID:
            problems.append((sheet, ref, f"expected a number or '..', 'x', '-', found text {raw!r}"))
        elif value is not _BLANK:
            rows.append((column.indicator, column.sex, code, column.classif2, year, value, note, ref))
    return rows


_BLANK, _INVALID = object(), object()


def _cell_value(raw) -> tuple[object, str | None]:
    """(obs_value, note) of one input cell; _BLANK for an empty cell, _INVALID for anything else."""
    if raw is None:
        return _BLANK, None
    if isinstance(raw, bool):
        return _INVALID, None
    if isinstance(raw, int | float):
        return float(raw), None
    text = str(raw).strip()
    if text == "":
        return _BLANK, None
    if text == ZERO:
        return 0.0, None
    if text.lower() in MARKER_NOTES:
        return None, MARKER_NOTES[text.lower()]
    return _INVALID, None
