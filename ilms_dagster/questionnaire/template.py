"""The ILMQ template writer: the workbook a focal point fills in, laid out by `workbook.SheetLayout` (the
layout the parser reads), locked headers, input cells restricted to numbers and the markers."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import openpyxl
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill, Protection
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from ilms_dagster.questionnaire.annotations import NOTES_SHEET
from ilms_dagster.questionnaire.template_sheets import (
    PARTNER_SHEET,
    column_groups,
    print_setup,
    write_contents,
    write_definitions,
    write_notes_sheet,
    write_partner_sheet,
)
from ilms_dagster.questionnaire.workbook import (
    CONFIDENTIAL,
    METADATA_FIELDS,
    METADATA_FIRST_ROW,
    METADATA_SHEET,
    NOT_AVAILABLE,
    ZERO,
    SheetLayout,
    ValueKey,
)
from ilms_dagster.registry import COUNTRY_NAMES, TABLES, TEMPLATE_VERSION, UNITS, TableSpec, reference_years

_BOLD = Font(bold=True)
_CODE = Font(color="808080", size=8)
_INPUT_FILL = PatternFill("solid", fgColor="FFF9E5")
_GROUP_FILLS = (PatternFill("solid", fgColor="DDEBF7"), PatternFill("solid", fgColor="E2EFDA"))
_ADD_PARTNER = (
    "Rows to add a partner country not listed: type its ISO3 code (or pick it) in column A, or its name "
    "in column B (sheet 'Partner countries'), then its figures."
)
_INSTRUCTIONS = (
    "Enter figures in the unit shown, one block per reference year. Leave a cell blank if the figure is "
    "not collected; type '..' if not available, 'x' if confidential, '-' or 0 for a true zero. "
    "Do not edit codes, headers or years."
)


def write_workbook(
    path: Path,
    country: str,
    round_: str | int,
    values: Mapping[ValueKey, float | str] | None = None,
    metadata: Mapping[str, object] | None = None,
    tables: list[TableSpec] | None = None,
) -> Path:
    """Write the ILMQ workbook for a country and round, optionally filled with `values`.

    Values of partners that have no row of their own fill the rows where partners are added (a ValueError
    if there are more such partners than rows). The zip is written with fixed timestamps so the same content
    always gives the same bytes (and hash).
    """
    values = values or {}
    years = tuple(reference_years(round_))
    tables = tables or list(TABLES.values())
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
    write_contents(wb.create_sheet("Contents"), tables, years)
    write_definitions(wb.create_sheet("Definitions"))
    for table in tables:
        _write_table_sheet(wb.create_sheet(table.sheet), SheetLayout(table, years, country), values)
    write_notes_sheet(wb.create_sheet(NOTES_SHEET), tables)
    write_partner_sheet(wb.create_sheet(PARTNER_SHEET))
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
            dst.writestr(
                zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0)),
                content,
                compress_type=zipfile.ZIP_DEFLATED,
            )
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
    print_setup(ws, f"A1:C{METADATA_FIRST_ROW + len(METADATA_FIELDS) - 1}", None, None, landscape=False)


def _added_partners(layout: SheetLayout, values: Mapping[ValueKey, float | str]) -> list[str]:
    """The partner codes of `values` that have no row of their own, each given one of the rows to add."""
    listed = set(layout.rows)
    extra = sorted(
        {key[2] for key in values if key[0] == layout.table.id}
        - listed
        - {f"{layout.table.partner_prefix}_{layout.country}"}
    )
    room = len(layout.added_rows(0))
    if len(extra) > room:
        raise ValueError(
            f"table {layout.table.id}: {len(extra)} partners without a row of their own, but the template "
            f"has {room} rows to add partners (partner_rows_to_add in registry/tables.yaml)"
        )
    return extra


def _write_table_sheet(ws, layout: SheetLayout, values: Mapping[ValueKey, float | str]) -> None:
    table = layout.table
    ws["A1"] = table.title
    ws["A1"].font = Font(bold=True, size=13)
    ws["A2"], ws["B2"] = "Indicator", ", ".join(table.indicators)
    ws["A3"], ws["B3"] = "Unit", UNITS[table.unit].label
    ws["A4"] = _INSTRUCTIONS
    ws["A5"], ws[SheetLayout.ID_CELL] = "Table id", table.id
    added = _added_partners(layout, values) if table.partner_prefix else []
    for k, year in enumerate(layout.years):
        top = layout.block_row(k)
        ws.cell(top, 1, "Reference year").font = _BOLD
        ws.cell(top, 2, year).font = _BOLD
        ws.cell(top + 1, 1, "Code").font = _BOLD
        ws.cell(top + 1, 2, "Category").font = _BOLD
        for g, (first_col, last_col, heading) in enumerate(column_groups(table, layout.FIRST_VALUE_COL)):
            ws.cell(top, first_col, heading).font = _BOLD
            for col in range(first_col, last_col + 1):
                ws.cell(top, col).fill = _GROUP_FILLS[g % 2]
        for j, column in enumerate(table.columns):
            col = layout.FIRST_VALUE_COL + j
            ws.cell(top + 1, col, column.label).font = _BOLD
            ws.cell(top + 1, col).alignment = Alignment(wrap_text=True)
            ws.cell(top + 2, col, column.indicator).font = _CODE
            ws.cell(top + 3, col, column.code).font = _CODE
        first = top + 4
        for i, code in enumerate(layout.rows):
            if code is not None:
                ws.cell(first + i, 1, code).font = _CODE
                ws.cell(first + i, 2, table.categories[code])
        for row, code in zip(layout.added_rows(k), [*added, *[None] * len(layout.added_rows(k))], strict=False):
            iso = code.rsplit("_", 1)[1] if code else None
            for col, text in ((1, iso), (2, COUNTRY_NAMES.get(iso) if iso else None)):
                cell = ws.cell(row, col, text)
                cell.protection, cell.fill = Protection(locked=False), _INPUT_FILL
        if layout.added_rows(k):
            ws.cell(layout.added_rows(k)[0], 1).comment = Comment(_ADD_PARTNER, "ilms-dagster")
            partners = DataValidation(
                type="list", formula1=f"'{PARTNER_SHEET}'!$A$2:$A${len(COUNTRY_NAMES) + 1}", showErrorMessage=False
            )
            partners.add(f"A{layout.added_rows(k)[0]}:A{layout.added_rows(k)[-1]}")
            ws.add_data_validation(partners)
        validation = DataValidation(
            type="custom",
            formula1=f"OR(ISNUMBER({layout.input_range(k).split(':')[0]}),"
            + ",".join(f'{layout.input_range(k).split(":")[0]}="{m}"' for m in (NOT_AVAILABLE, CONFIDENTIAL, ZERO))
            + ")",
            showErrorMessage=True,
            errorTitle="ILMQ input",
            error="Enter a number, '..' (not available), 'x' (confidential) or '-' (zero).",
        )
        validation.add(layout.input_range(k))
        ws.add_data_validation(validation)
    row_of_added = {row: code for k in range(len(layout.years)) for row, code in zip(layout.added_rows(k), added)}
    for year, code, row, col, column in layout.cells():
        code = code or row_of_added.get(row)
        cell = ws.cell(row, col, values.get((table.id, year, code, column.sex, column.classif2)) if code else None)
        cell.protection = Protection(locked=False)
        cell.fill = _INPUT_FILL
    ws.cell(SheetLayout.FIRST_BLOCK_ROW + 1, 3).comment = Comment(_INSTRUCTIONS, "ilms-dagster")
    ws.column_dimensions["A"].width = 24
    ws.column_dimensions["B"].width = 40
    for j in range(len(table.columns)):
        ws.column_dimensions[get_column_letter(layout.FIRST_VALUE_COL + j)].width = 14
    ws.freeze_panes = "C7"
    ws.protection.sheet = True
    last_row = layout.block_row(len(layout.years) - 1) + layout.block_height - 1
    print_setup(ws, f"A1:{get_column_letter(layout.FIRST_VALUE_COL + len(table.columns) - 1)}{last_row}", "1:5", "A:B")
