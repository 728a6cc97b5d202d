"""The guard's extent check against references as calamine reads them (lower-case and long column letters,
long row numbers, duplicated attributes, namespace prefixes) and a `<dimension>` openpyxl would pad to, at
sizes that would take gigabytes if a reader got them: only `inspect_workbook` is called here, never a reader.
Each workbook is written by openpyxl and one sheet's XML rewritten, as a hostile tool would."""

from __future__ import annotations

import io
import re
import zipfile

import openpyxl
import pytest

from ilms_dagster.questionnaire.guards import FileRejected, SheetFacts, _marks, inspect_workbook

SHEET = "xl/worksheets/sheet1.xml"


def workbook(tmp_path, change) -> object:
    """An openpyxl workbook (A1 and B2 filled) with its sheet's XML passed through `change`."""
    wb = openpyxl.Workbook()
    wb.active["A1"], wb.active["B2"] = 1, 2
    buffer = io.BytesIO()
    wb.save(buffer)
    path = tmp_path / "book.xlsx"
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            data = src.read(info)
            out.writestr(info, change(data) if info.filename == SHEET else data)
    return path


def rows(xml: bytes):
    return lambda data: data.replace(b"</sheetData>", xml + b"</sheetData>")


FAR = {  # what calamine would allocate (rows x columns from A1), checked with python-calamine 0.9.1
    "lower-case column letters (70 M cells)": rows(b'<row r="3"><c r="zz99999"><v>1</v></c></row>'),
    "an eight-digit row in a cell reference (12 M cells)": rows(b'<row r="3"><c r="A12345678"><v>1</v></c></row>'),
    "an eight-digit row number and cells without references": rows(b'<row r="99999999"><c><v>1</v></c></row>'),
    "four column letters (1.8 G cells)": rows(b'<row r="3"><c r="ZZZZ99999"><v>1</v></c></row>'),
    "the far reference given last of two": rows(b'<row r="3"><c r="A3" r="ZZ99999"><v>1</v></c></row>'),
    "a row number of 5,000 digits": rows(b'<row r="3"><c r="A' + b"9" * 5000 + b'"><v>1</v></c></row>'),
    "a prefixed sheet (x:c)": lambda data: re.sub(
        rb"<(/?)([A-Za-z])", rb"<\1x:\2", rows(b'<row r="3"><c r="ZZ99999"><v>1</v></c></row>')(data)
    ).replace(b'xmlns="', b'xmlns:x="', 1),
    "a <dimension> openpyxl would pad every row to": lambda data: re.sub(
        rb'<dimension ref="[^"]*"', b'<dimension ref="A1:XFD1048576"', data
    ),
}


@pytest.mark.parametrize("name", list(FAR))
def test_a_far_reference_in_any_spelling_calamine_reads_is_refused_before_a_reader_runs(tmp_path, name):
    with pytest.raises(FileRejected) as caught:
        inspect_workbook(workbook(tmp_path, FAR[name]))
    assert caught.value.rule == "ILMS_MAX_CELLS"
    assert "more than the 2000000 cells allowed" in str(caught.value)


def test_the_same_workbook_unchanged_and_near_references_pass(tmp_path):
    assert inspect_workbook(workbook(tmp_path, lambda data: data)).sheets["Sheet"].formulas == []
    near = rows(b"<row r='70000'><c r = 'z70000'><v>1</v></c><c r=\"B70000\"><v>1</v></c></row>")
    inspect_workbook(workbook(tmp_path, near))  # 70,000 rows x 26 columns: within the 2,000,000 cells


@pytest.mark.parametrize(
    ("xml", "cells"),
    [
        (b'<c r="C11"><f>1+2</f><v>3</v></c>', ["C11"]),
        (b'<x:c r="d12" t="n"><x:f>1+2</x:f><x:v>3</x:v></x:c>', ["D12"]),  # a prefix, a lower-case reference
        (b"<c><f>1+2</f><v>3</v></c>", ["-"]),  # no reference: still a formula, named by its sheet only
        (b'<c r="A1"><v>1</v></c><formula1>ISNUMBER(C11)</formula1>', []),  # a validation's formula is no cell's
    ],
)
def test_formulas_are_found_with_or_without_a_prefix_and_named_by_their_cell(xml, cells):
    facts = SheetFacts("xl/worksheets/sheet1.xml")
    _marks(b"<sheetData><row r='1'>" + xml + b"</row></sheetData>", facts)
    assert facts.formulas == cells
