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

from ilms_dagster.registry import COUNTRY_NAMES, TABLES, TEMPLATE_VERSION, UNITS, TableSpec, reference_years
from ilms_dagster.workbook import (CONFIDENTIAL, METADATA_FIELDS, METADATA_FIRST_ROW, METADATA_SHEET, NOT_AVAILABLE,
                                   ZERO, SheetLayout, ValueKey)  # fmt: skip

_BOLD = Font(bold=True)
_CODE = Font(color="808080", size=8)
_INPUT_FILL = PatternFill("solid", fgColor="FFF9E5")
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
