"""The template's reading aids: contents, definitions, the Notes sheet to fill and the partner-country list,
and the page setup every sheet prints with (landscape, one table on one or two pages wide, titles repeated)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from openpyxl.styles import Alignment, Font, PatternFill, Protection
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from ilms_dagster.questionnaire.annotations import NOTES_COLUMNS, NOTES_HEADER_ROW, NOTES_INSTRUCTIONS, NOTES_ROWS
from ilms_dagster.questionnaire.workbook import CONFIDENTIAL, NOT_AVAILABLE, ZERO
from ilms_dagster.registry import COUNTRY_NAMES, MIGRATORY_STATUS, OBS_STATUS, SEX, UNITS, USUAL_PARTNERS, TableSpec

PARTNER_SHEET = "Partner countries"
_BOLD, _TITLE = Font(bold=True), Font(bold=True, size=14)
_INPUT_FILL = PatternFill("solid", fgColor="FFF9E5")
_WRAP = Alignment(wrap_text=True, vertical="top")
_BASIS_NAMES = {"CBR": "By place of birth", "CCT": "By citizenship"}
MARKERS = {
    "(blank)": "The figure is not collected or does not apply",
    NOT_AVAILABLE: "Not available: collected but not available for this submission",
    CONFIDENTIAL: "Confidential: not to be published",
    f"{ZERO} or 0": "A true zero (a blank is not a zero)",
}


@cache
def _definitions() -> dict:
    return yaml.safe_load((Path(__file__).parents[1] / "registry" / "definitions.yaml").read_text())


def column_groups(table: TableSpec, first_col: int) -> list[tuple[int, int, str]]:
    """(first column, last column, heading) of each migratory basis's column group (one group for flow tables)."""
    if not table.bases:
        return [(first_col, first_col + len(table.columns) - 1, "By sex")]
    out, col = [], first_col
    for basis in table.bases:
        width = len(MIGRATORY_STATUS[basis]) * len(SEX)
        out.append(
            (
                col,
                col + width - 1,
                f"{_BASIS_NAMES.get(basis, basis)} ({basis}): report this group if your "
                f"source identifies migrants by it",
            )
        )
        col += width
    return out


def print_setup(
    ws: Worksheet, area: str, title_rows: str | None, title_cols: str | None, landscape: bool = True
) -> None:
    """A4, landscape, one page wide and at most two tall, with the title rows and code columns on every page."""
    ws.print_area = area
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 2
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.gridLines = True
    if title_rows:
        ws.print_title_rows = title_rows
    if title_cols:
        ws.print_title_cols = title_cols
    ws.oddFooter.center.text = "&A - page &P of &N"


def write_contents(ws: Worksheet, tables: list[TableSpec], years: tuple[int, ...]) -> None:
    ws["A1"] = "Contents"
    ws["A1"].font = _TITLE
    ws["A2"] = (
        f"Reference years {years[0]}-{years[-1]}. Fill the yellow cells of each table your sources cover; "
        "see 'Definitions' for the concepts and markers, 'Notes' for status flags and notes."
    )
    heads = ("Sheet", "Table", "Indicator(s)", "Unit")
    for j, head in enumerate(heads, start=1):
        ws.cell(4, j, head).font = _BOLD
    sheets = [
        ("Metadata", "Who reports, sources and submission date", "", ""),
        ("Definitions", "Concepts, markers, units and status codes", "", ""),
    ]
    sheets += [(t.sheet, t.title, ", ".join(t.indicators), UNITS[t.unit].label) for t in tables]
    sheets += [
        ("Notes", "Observation status and notes on any value or table", "", ""),
        (PARTNER_SHEET, "ISO 3166-1 countries to add as partners", "", ""),
    ]
    for i, row in enumerate(sheets, start=5):
        for j, text in enumerate(row, start=1):
            ws.cell(i, j, text)
        ws.cell(i, 1).hyperlink = f"#'{row[0]}'!A1"
        ws.cell(i, 1).style = "Hyperlink"
    for col, width in zip("ABCD", (26, 70, 60, 24), strict=True):
        ws.column_dimensions[col].width = width
    ws.protection.sheet = True
    print_setup(ws, f"A1:D{len(sheets) + 4}", "4:4", None)


def write_definitions(ws: Worksheet) -> None:
    ws["A1"] = "Definitions (Guidelines concerning statistics of international labour migration, 20th ICLS, 2018)"
    ws["A1"].font = _TITLE
    sections = [
        ("Concepts", _definitions()["concepts"]),
        ("Markers in input cells", MARKERS),
        ("Units", {u.label: f"figures rounded to {u.precision:g}" for u in UNITS.values()}),
        ("Observation status (sheet 'Notes')", OBS_STATUS),
    ]
    row = 3
    for title, entries in sections:
        ws.cell(row, 1, title).font = Font(bold=True, size=12)
        row += 1
        for term, text in entries.items():
            ws.cell(row, 1, term).font = _BOLD
            ws.cell(row, 1).alignment = _WRAP
            ws.cell(row, 2, " ".join(str(text).split())).alignment = _WRAP
            row += 1
        row += 1
    ws.column_dimensions["A"].width, ws.column_dimensions["B"].width = 36, 110
    ws.protection.sheet = True
    print_setup(ws, f"A1:B{row}", None, None)


def write_notes_sheet(ws: Worksheet, tables: list[TableSpec]) -> None:
    ws["A1"] = "Notes and observation status"
    ws["A1"].font = _TITLE
    ws["A2"] = NOTES_INSTRUCTIONS + " Status codes: " + "; ".join(f"{k} = {v}" for k, v in OBS_STATUS.items()) + "."
    ws["A2"].alignment = _WRAP
    for j, (_, head, width) in enumerate(NOTES_COLUMNS, start=1):
        ws.cell(NOTES_HEADER_ROW, j, head).font = _BOLD
        ws.column_dimensions[ws.cell(NOTES_HEADER_ROW, j).column_letter].width = width
    first, last = NOTES_HEADER_ROW + 1, NOTES_HEADER_ROW + NOTES_ROWS
    for r in range(first, last + 1):
        for j in range(1, len(NOTES_COLUMNS) + 1):
            ws.cell(r, j).protection, ws.cell(r, j).fill = Protection(locked=False), _INPUT_FILL
    for col, codes in (("A", [t.id for t in tables]), ("E", list(OBS_STATUS))):
        validation = DataValidation(
            type="list",
            formula1='"' + ",".join(codes) + '"',
            showErrorMessage=True,
            errorTitle="ILMQ notes",
            error="Pick a value from the list.",
        )
        validation.add(f"{col}{first}:{col}{last}")
        ws.add_data_validation(validation)
    ws.freeze_panes = f"A{first}"
    ws.protection.sheet = True
    print_setup(ws, f"A1:F{last}", f"{NOTES_HEADER_ROW}:{NOTES_HEADER_ROW}", None)


def write_partner_sheet(ws: Worksheet) -> None:
    for j, head in enumerate(("ISO3", "Country", "Listed in the tables"), start=1):
        ws.cell(1, j, head).font = _BOLD
    for i, (iso, name) in enumerate(COUNTRY_NAMES.items(), start=2):
        ws.cell(i, 1, iso), ws.cell(i, 2, name), ws.cell(i, 3, "yes" if iso in USUAL_PARTNERS else "")
    ws.column_dimensions["A"].width, ws.column_dimensions["B"].width, ws.column_dimensions["C"].width = 8, 50, 20
    ws.freeze_panes = "A2"
    ws.protection.sheet = True
    print_setup(ws, f"A1:C{len(COUNTRY_NAMES) + 1}", "1:1", None, landscape=False)
