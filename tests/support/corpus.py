"""The bad-input corpus: every kind of file a focal point (or an attacker) may drop into the inbox, built by
code on real files (openpyxl-written workbooks, real zips, FIFOs, symlinks), with the outcome it must get.

`KINDS` maps a kind's name to a Kind: `build(round_folder, country, round_)` writes the entry and returns
its path; `outcome` is "rejected" (nothing reaches the warehouse), "flagged" (parsed, and the expectation
suites find an error: the checks block it) or "accepted"; `fragments` must all appear in the message.
`CORPUS_ENV` lowers the size limits so that the size kinds stay small files (the samples fit well under them).
Used by tests/questionnaire/test_corpus.py and benchmarks/reliability.py (docs/reliability.md).
"""

from __future__ import annotations

import io
import os
import random
import re
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

import openpyxl

from ilms_dagster.questionnaire.template import write_workbook
from ilms_dagster.questionnaire.workbook import METADATA_FIELDS, METADATA_FIRST_ROW, SheetLayout
from ilms_dagster.registry import TABLES, reference_years

CORPUS_ENV = {
    "ILMS_MAX_FILE_BYTES": str(1 << 20),
    "ILMS_MAX_UNCOMPRESSED_BYTES": str(2 << 20),
    "ILMS_MAX_COMPRESSION_RATIO": "200",
    "ILMS_MAX_CELLS": "200000",
}
TABLE = "emp_by_activity"  # the sheet most kinds damage
SHEET_MEMBER = "xl/worksheets/sheet12.xml"  # the part of a table sheet (olf_by_age) the XML-level kinds rewrite


@dataclass(frozen=True)
class Kind:
    build: Callable[[Path, str, str], Path]
    outcome: str
    fragments: tuple[str, ...]


def input_cell(round_: str, k: int = 0) -> str:
    """The k-th input cell of TABLE's first block (the total row), e.g. 'C11'."""
    layout = SheetLayout(TABLES[TABLE], tuple(reference_years(round_)))
    return [
        f"{c}{r}" for c, r in ((openpyxl.utils.get_column_letter(col), row) for _, _, row, col, _ in layout.cells())
    ][k]


def good(folder: Path, country: str, round_: str, name: str | None = None) -> Path:
    """A valid submission with a few values (the base every workbook kind damages)."""
    path = folder / (name or f"{country}_ILMQ.xlsx")
    folder.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_good_bytes(country, round_))
    return path


@cache
def _good_bytes(country: str, round_: str) -> bytes:
    years = reference_years(round_)
    values = {
        (TABLE, years[-1], "ECO_SECTOR_TOTAL", "SEX_T", "CBR_BIR_TOTAL"): 4010.5,
        (TABLE, years[-1], "ECO_SECTOR_TOTAL", "SEX_M", "CBR_BIR_TOTAL"): 2150.25,
        (TABLE, years[-1], "ECO_SECTOR_TOTAL", "SEX_F", "CBR_BIR_TOTAL"): 1860.25,
    }
    with tempfile.TemporaryDirectory() as tmp:
        return write_workbook(Path(tmp) / "good.xlsx", country, round_, values=values).read_bytes()


def _edit(change: Callable[[openpyxl.Workbook, str], None]) -> Callable[[Path, str, str], Path]:
    def build(folder: Path, country: str, round_: str) -> Path:
        path = good(folder, country, round_)
        wb = openpyxl.load_workbook(path)
        change(wb, round_)
        wb.save(path)
        return path

    return build


def _cell(value, k: int = 0):
    return _edit(lambda wb, r: wb[TABLE].__setitem__(input_cell(r, k), value))


def _meta(key: str, value):
    row = METADATA_FIRST_ROW + [k for k, _ in METADATA_FIELDS].index(key)
    return _edit(lambda wb, r: wb["Metadata"].cell(row, 3, value))


def _bytes(data: bytes | Callable[[], bytes], name: str = "{country}_ILMQ.xlsx") -> Callable[[Path, str, str], Path]:
    def build(folder: Path, country: str, round_: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name.format(country=country)
        path.write_bytes(data() if callable(data) else data)
        return path

    return build


def _zip(members: dict[str, bytes], encrypted: bool = False) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(
                zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), content, compress_type=zipfile.ZIP_DEFLATED
            )
    data = bytearray(out.getvalue())
    if encrypted:  # the "encrypted" flag bit in every local and central header, as a password tool sets it
        for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            start = 0
            while (start := data.find(signature, start)) >= 0:
                data[start + offset] |= 1
                start += 4
    return bytes(data)


def _patch(member: str, change: Callable[[bytes], bytes], extra: dict[str, bytes] | None = None):
    """A good workbook with one part's XML rewritten (and parts added)."""

    def build(folder: Path, country: str, round_: str) -> Path:
        path = good(folder, country, round_)
        with zipfile.ZipFile(path) as zf:
            parts = {i.filename: zf.read(i.filename) for i in zf.infolist()}
        parts[member] = change(parts[member])
        path.write_bytes(_zip(parts | (extra or {})))
        return path

    return build


def _append_rows(rows: bytes) -> Callable[[bytes], bytes]:
    return lambda xml: xml.replace(b"</sheetData>", rows + b"</sheetData>")


def _prefixed(xml: bytes) -> bytes:
    """The sheet with every element written with the prefix x: (as some .NET writers do), the same to calamine."""
    xml = re.sub(rb"<(/?)([A-Za-z])", rb"<\1x:\2", xml)
    return xml.replace(b'<x:worksheet xmlns="', b'<x:worksheet xmlns:x="', 1)


def _doctype(body: bytes) -> Callable[[bytes], bytes]:
    def change(xml: bytes) -> bytes:
        return re.sub(rb"^(<\?xml[^>]*\?>)?", lambda m: (m.group(1) or b"") + body, xml, count=1)

    return change


def _set_cell_xml(round_cell: Callable[[], str], inner: bytes) -> Callable[[bytes], bytes]:
    """Rewrite the XML of one input cell (which the good workbook fills or leaves empty)."""

    def change(xml: bytes) -> bytes:
        ref = round_cell().encode()
        xml, n = re.subn(
            rb'<c r="' + ref + rb'"[^>]*?(/>|>.*?</c>)',
            b'<c r="' + ref + b'">' + inner + b"</c>",
            xml,
            count=1,
            flags=re.S,
        )
        assert n == 1, ref
        return xml

    return change


def _truncated(folder: Path, country: str, round_: str) -> Path:
    path = good(folder, country, round_)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def _crc(folder: Path, country: str, round_: str) -> Path:
    path = good(folder, country, round_)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(SHEET_MEMBER)
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0xFF  # one flipped byte inside the compressed sheet
    path.write_bytes(bytes(data))
    return path


def _with_part(name: str, content: Callable[[], bytes]):
    def build(folder: Path, country: str, round_: str) -> Path:
        path = good(folder, country, round_)
        with zipfile.ZipFile(path) as zf:
            parts = {i.filename: zf.read(i.filename) for i in zf.infolist()}
        path.write_bytes(_zip(parts | {name: content()}))
        return path

    return build


def _random_text(size: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    return bytes(rng.choice(b"ab") for _ in range(size))


def _stored_junk(size: int):
    def build(folder: Path, country: str, round_: str) -> Path:
        path = good(folder, country, round_)
        with zipfile.ZipFile(path, "a", zipfile.ZIP_STORED) as zf:
            zf.writestr("xl/media/junk.bin", random.Random(2).randbytes(size))
        return path

    return build


def _special(make: Callable[[Path], None], name: str = "{country}_ILMQ.xlsx"):
    def build(folder: Path, country: str, round_: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name.format(country=country)
        make(path)
        return path

    return build


def _named(name: str, base: Callable[[Path, str, str], Path] | None = None):
    def build(folder: Path, country: str, round_: str) -> Path:
        return good(folder, country, round_, name=name.format(country=country))

    return build


def _blank(folder: Path, country: str, round_: str) -> Path:
    return write_workbook(folder / f"{country}_ILMQ.xlsx", country, round_)


def _shift_rows(wb, r):
    wb[TABLE].insert_rows(1)


def _shift_cols(wb, r):
    wb[TABLE].insert_cols(3)


def _duplicate_row(wb, r):
    ws, layout = wb[TABLE], SheetLayout(TABLES[TABLE], tuple(reference_years(r)))
    first = layout.block_row(0) + 4
    ws.cell(first + 1, 1, ws.cell(first, 1).value)  # the second category row repeats the first one's code


def _hide(state):
    def change(wb, r):
        wb[TABLE].sheet_state = state

    return change


def _rename(wb, r):
    wb[TABLE].title = "Employment"


def _merge(wb, r):
    wb[TABLE].merge_cells(f"{input_cell(r, 0)}:{input_cell(r, 1)}")


def _outside(where: str):
    return _edit(lambda wb, r: wb[TABLE].__setitem__(where, 123.0))


def _wrong_year(wb, r):
    layout = SheetLayout(TABLES[TABLE], tuple(reference_years(r)))
    wb[TABLE].cell(layout.block_row(0), 2, 1999)


def _wrong_code(wb, r):
    layout = SheetLayout(TABLES[TABLE], tuple(reference_years(r)))
    wb[TABLE].cell(layout.block_row(0) + 4, 1, "ECO_SECTOR_SOMETHING")


def _renamed_field(wb, r):
    wb["Metadata"].cell(METADATA_FIRST_ROW + 1, 1, "nation")


def _fifo(path: Path) -> None:
    os.mkfifo(path)


OLE_HEADER = bytes.fromhex("D0CF11E0A1B11AE1") + bytes(504)  # an encrypted .xlsx, or an old .xls, starts so
ENTITY_BOMB = (
    b'<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
)

REJECTED = "rejected"
KINDS: dict[str, Kind] = {
    # not a workbook at all
    "not a zip (text)": Kind(
        _bytes(b"country,value\nTHA,1\n"), REJECTED, ("not an .xlsx workbook", "an .xlsx workbook")
    ),
    "empty file": Kind(_bytes(b""), REJECTED, ("the file is empty",)),
    "truncated workbook": Kind(_truncated, REJECTED, ("not an .xlsx workbook",)),
    "encrypted workbook (OLE container)": Kind(_bytes(OLE_HEADER), REJECTED, ("password-protected workbook",)),
    "zip with encrypted parts": Kind(
        _bytes(lambda: _zip({"xl/workbook.xml": b"<workbook/>"}, encrypted=True)),
        REJECTED,
        ("encrypted", "not encrypted"),
    ),
    ".xls renamed .xlsx": Kind(_bytes(OLE_HEADER + b"Workbook"), REJECTED, ("old-format .xls file",)),
    ".docx renamed .xlsx": Kind(
        _bytes(lambda: _zip({"word/document.xml": b"<w:document/>", "[Content_Types].xml": b"<Types/>"})),
        REJECTED,
        ("no xl/workbook.xml",),
    ),
    "random zip": Kind(_bytes(lambda: _zip({"a.txt": b"hello"})), REJECTED, ("no xl/workbook.xml",)),
    "CRC error in a sheet": Kind(_crc, REJECTED, ("damaged", SHEET_MEMBER)),
    # size limits
    "file over the size limit": Kind(_stored_junk(1_200_000), REJECTED, ("ILMS_MAX_FILE_BYTES",)),
    "zip bomb (one part compressed 1000:1)": Kind(
        _with_part("xl/media/bomb.xml", lambda: b" " * (8 << 20)), REJECTED, ("ILMS_MAX_COMPRESSION_RATIO",)
    ),
    "uncompressed total over the limit": Kind(
        _with_part("xl/media/big.txt", lambda: _random_text(2_600_000)), REJECTED, ("ILMS_MAX_UNCOMPRESSED_BYTES",)
    ),
    "huge shared strings": Kind(
        _with_part("xl/sharedStrings.xml", lambda: b"<sst><si><t>" + b"A" * (6 << 20) + b"</t></si></sst>"),
        REJECTED,
        ("ILMS_MAX",),
    ),
    "one 6 MiB text cell": Kind(_patch(SHEET_MEMBER, lambda x: x, {}), "accepted", ()),  # placeholder, replaced below
    "cell at the last row and column": Kind(_outside("XFD1048576"), REJECTED, ("ILMS_MAX_CELLS",)),
    "cells far below the grid": Kind(_outside("Z150000"), REJECTED, ("ILMS_MAX_CELLS",)),
    "a far cell referenced in single quotes": Kind(
        _patch(
            SHEET_MEMBER,
            lambda x: x.replace(b"</sheetData>", b"<row r = '150000'><c r = 'Z150000'><v>1</v></c></row></sheetData>"),
        ),
        REJECTED,
        ("ILMS_MAX_CELLS",),
    ),
    # references as calamine reads them, not only as Excel writes them
    "a far cell with lower-case column letters": Kind(
        _patch(SHEET_MEMBER, _append_rows(b'<row r="300"><c r="zz300"><v>1</v></c></row>')),
        REJECTED,
        ("ILMS_MAX_CELLS", "column 702"),
    ),
    "a column of four letters": Kind(
        _patch(SHEET_MEMBER, _append_rows(b'<row r="200"><c r="AAAA200"><v>1</v></c></row>')),
        REJECTED,
        ("ILMS_MAX_CELLS", "column 18279"),
    ),
    "a cell's reference given twice, the far one last": Kind(
        _patch(SHEET_MEMBER, _append_rows(b'<row r="300"><c r="A300" r="ZZ300"><v>1</v></c></row>')),
        REJECTED,
        ("ILMS_MAX_CELLS",),
    ),
    "a far cell in a sheet written with a namespace prefix (x:c)": Kind(
        _patch(SHEET_MEMBER, lambda x: _prefixed(_append_rows(b'<row r="300"><c r="ZZ300"><v>1</v></c></row>')(x))),
        REJECTED,
        ("ILMS_MAX_CELLS",),
    ),
    "a far cell calamine would take 2 GiB for": Kind(
        _patch(SHEET_MEMBER, _append_rows(b'<row r="99999"><c r="ZZ99999"><v>1</v></c></row>')),
        REJECTED,
        ("ILMS_MAX_CELLS", "row 99999, column 702"),
    ),
    "a cell reference calamine cannot read": Kind(
        _patch(SHEET_MEMBER, _append_rows(b'<row r="300"><c r="C3x1"><v>1</v></c></row>')),
        REJECTED,
        ("not a readable .xlsx workbook", "a readable .xlsx workbook"),
    ),
    "a formula in a sheet written with a namespace prefix (x:f)": Kind(
        _patch(
            SHEET_MEMBER, lambda x: _prefixed(_set_cell_xml(lambda: input_cell("2024", 3), b"<f>1+2</f><v>3</v>")(x))
        ),
        REJECTED,
        ("holds a formula", "values, not formulas"),
    ),
    # XML declarations
    "entity bomb in a sheet": Kind(
        _patch(SHEET_MEMBER, _doctype(ENTITY_BOMB)), REJECTED, ("no XML entity declarations", SHEET_MEMBER)
    ),
    "entity bomb in shared strings": Kind(
        _with_part(
            "xl/sharedStrings.xml",
            lambda: b'<?xml version="1.0"?>' + ENTITY_BOMB + b"<sst><si><t>&lol3;</t></si></sst>",
        ),
        REJECTED,
        ("no XML entity declarations", "xl/sharedStrings.xml"),
    ),
    "external entity (XXE) in workbook.xml": Kind(
        _patch("xl/workbook.xml", _doctype(b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>')),
        REJECTED,
        ("no XML entity declarations", "xl/workbook.xml"),
    ),
    "DOCTYPE in the Metadata sheet": Kind(
        _patch("xl/worksheets/sheet1.xml", _doctype(b"<!DOCTYPE worksheet>")), REJECTED, ("DOCTYPE",)
    ),
    # sheets
    "Metadata sheet missing": Kind(
        _edit(lambda wb, r: wb.remove(wb["Metadata"])), REJECTED, ("sheet 'Metadata'", "sheet is missing")
    ),
    "table sheet missing": Kind(
        _edit(lambda wb, r: wb.remove(wb["outflow_by_destination"])),
        REJECTED,
        ("sheet 'outflow_by_destination'", "sheet is missing"),
    ),
    "table sheet renamed": Kind(
        _edit(_rename), REJECTED, ("sheet 'Employment'", "not part of the template", f"sheet '{TABLE}'")
    ),
    "extra sheet": Kind(
        _edit(lambda wb, r: wb.create_sheet("My totals").__setitem__("A1", "totals")),
        REJECTED,
        ("sheet 'My totals'", "template sheets only"),
    ),
    "hidden sheet": Kind(_edit(_hide("hidden")), REJECTED, (f"sheet '{TABLE}'", "hidden")),
    "very hidden sheet": Kind(_edit(_hide("veryHidden")), REJECTED, (f"sheet '{TABLE}'", "veryHidden")),
    # layout
    "rows shifted down": Kind(_edit(_shift_rows), REJECTED, (f"sheet '{TABLE}', cell B5", "expected table id")),
    "columns shifted right": Kind(_edit(_shift_cols), REJECTED, (f"sheet '{TABLE}'", "expected column code")),
    "wrong reference year": Kind(_edit(_wrong_year), REJECTED, ("expected reference year", "found 1999")),
    "unknown category code": Kind(_edit(_wrong_code), REJECTED, ("expected category code", "ECO_SECTOR_SOMETHING")),
    "duplicate category row": Kind(_edit(_duplicate_row), REJECTED, ("expected category code",)),
    # metadata
    "wrong template version": Kind(
        _meta("template_version", "ILMQ-0.9"), REJECTED, ("sheet 'Metadata', cell C4", "template version 'ILMQ-0.9'")
    ),
    "country not the partition's": Kind(
        _meta("country", "MYS"), REJECTED, ("sheet 'Metadata', cell C5", "does not match the submission's partition")
    ),
    "round not the partition's": Kind(_meta("round", 1999), REJECTED, ("sheet 'Metadata', cell C6", "round 1999")),
    "submission date not a date": Kind(
        _meta("submission_date", "last Tuesday"), REJECTED, ("submission date 'last Tuesday'",)
    ),
    "Metadata field renamed": Kind(
        _edit(_renamed_field), REJECTED, ("sheet 'Metadata', cell A5", "expected field 'country'")
    ),
    # cells
    "text in a number cell": Kind(_cell("about 12"), REJECTED, ("found text 'about 12'",)),
    "date in a number cell": Kind(_cell(datetime(2023, 5, 1)), REJECTED, ("expected a number",)),
    "boolean in a number cell": Kind(_cell(True), REJECTED, ("found a true/false value",)),
    "NaN in the sheet XML": Kind(
        _patch(SHEET_MEMBER, _set_cell_xml(lambda: input_cell("2024", 3), b"<v>NaN</v>")),
        REJECTED,
        ("expected a number",),
    ),
    "INF in the sheet XML": Kind(
        _patch(SHEET_MEMBER, _set_cell_xml(lambda: input_cell("2024", 3), b"<v>INF</v>")),
        REJECTED,
        ("expected a number",),
    ),
    "unknown marker": Kind(_cell("n/a"), REJECTED, ("found text 'n/a'",)),
    "negative number": Kind(_cell(-5.0, 3), "flagged", ("is below the lowest value",)),
    "blank template (no values at all)": Kind(_blank, REJECTED, ("no values at all",)),
    "formula without a cached value": Kind(_cell("=1+2", 3), REJECTED, ("holds a formula", "values, not formulas")),
    "formula with a cached value": Kind(
        _patch(SHEET_MEMBER, _set_cell_xml(lambda: input_cell("2024", 3), b"<f>1+2</f><v>3</v>")),
        REJECTED,
        ("holds a formula",),
    ),
    "merged input cells": Kind(_edit(_merge), REJECTED, ("no merged cells",)),
    "value beside the grid": Kind(
        _outside("AB11"), REJECTED, (f"sheet '{TABLE}', cell AB11", "outside the template's cells")
    ),
    "value in the Metadata margin": Kind(
        _edit(lambda wb, r: wb["Metadata"].__setitem__("F20", "see notes")),
        REJECTED,
        ("sheet 'Metadata', cell F20", "outside the template's cells"),
    ),
    # the inbox entry itself
    "named pipe (FIFO)": Kind(_special(_fifo), REJECTED, ("named pipe (FIFO)", "regular files only")),
    "symlink to /dev/zero": Kind(_special(lambda p: p.symlink_to("/dev/zero")), REJECTED, ("outside the inbox",)),
    "symlink to /etc/passwd": Kind(_special(lambda p: p.symlink_to("/etc/passwd")), REJECTED, ("outside the inbox",)),
    "dangling symlink": Kind(_special(lambda p: p.symlink_to(p.parent / "gone.xlsx")), REJECTED, ("dangling",)),
    "directory named .xlsx": Kind(_special(lambda p: p.mkdir()), REJECTED, ("is a directory",)),
    ".xlsm workbook": Kind(_named("{country}_ILMQ.xlsm"), REJECTED, ("macro-enabled workbook (.xlsm)",)),
    ".xls file": Kind(_bytes(OLE_HEADER, "{country}_ILMQ.xls"), REJECTED, ("old-format Excel file (.xls)",)),
    "newline in the file name": Kind(
        lambda f, c, r: _blank(f, c, r).rename(f / f"{c}\nBRN 2024: ok.xlsx") or f / f"{c}\nBRN 2024: ok.xlsx",
        REJECTED,
        ("\\nBRN 2024: ok.xlsx (sha256", "no values at all"),
    ),
    ".XLSX in capitals": Kind(_named("{country}_ILMQ.XLSX"), "accepted", ()),
}
KINDS["one 6 MiB text cell"] = Kind(
    _patch(SHEET_MEMBER, _set_cell_xml(lambda: input_cell("2024", 3), b"<is><t>" + b"9" * (6 << 20) + b"</t></is>")),
    REJECTED,
    ("ILMS_MAX",),
)


def attempt(storage, round_: str, country: str) -> tuple[str, str]:
    """What intake makes of the partition's inbox entry, with the project's own functions (find, archive,
    parse, stage, expectation suites): ("rejected", message), ("flagged", findings) or ("accepted", "")."""
    from ilms_dagster.checks.expectations import run_expectations
    from ilms_dagster.intake.submissions import NoSubmission, archive, find_submission, stage
    from ilms_dagster.questionnaire.workbook import SubmissionError

    try:
        manifest = archive(storage, find_submission(storage, round_, country))
        staged = stage(storage, round_, country, manifest, expectations=run_expectations)
    except (NoSubmission, SubmissionError) as exc:
        return REJECTED, str(exc)
    findings = staged.expectation_findings()
    errors = findings[findings["severity"] == "error"]
    if len(errors):
        return "flagged", "\n".join(f"{r.table_id} {r.cell}: {r.message}" for r in errors.itertuples())
    return "accepted", ""
