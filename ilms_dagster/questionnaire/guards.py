"""Hard limits on a received file, checked before any reader parses it (pure: no Dagster, no warehouse).

A workbook is a zip of XML parts. Everything here reads only what it must, in bounded pieces:

- `check_regular_file`: the inbox entry is a regular file (no FIFO, device, directory; a symlink only if it
  stays inside the inbox and ends at a regular file), judged by `lstat`, never by opening it;
- `open_bounded`: reads a regular file of at most `ILMS_MAX_FILE_BYTES` without following symlinks or
  blocking on a FIFO (what the archive copies);
- `inspect_workbook`: the zip central directory (member count, total uncompressed size, per-member
  compression ratio) before anything is decompressed, then one streaming pass over the sheet and shared
  string XML: entity declarations refused, real decompressed sizes held to the declared ones, the cells'
  extent held to ILMS_MAX_CELLS, formulas, merged ranges and hidden sheets noted by cell for the parser to report.

Every limit is an environment variable with a safe default (README, Settings) and is named in its error.
"""

from __future__ import annotations

import functools
import os
import re
import stat
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

LIMITS = {  # name: (default, what it bounds)
    "ILMS_MAX_FILE_BYTES": (20 * 2**20, "size of the file"),
    "ILMS_MAX_UNCOMPRESSED_BYTES": (100 * 2**20, "total uncompressed size of the workbook's parts"),
    "ILMS_MAX_COMPRESSION_RATIO": (200, "compression ratio of any part (uncompressed / compressed size)"),
    "ILMS_MAX_ZIP_MEMBERS": (10_000, "number of parts in the workbook"),
    "ILMS_MAX_CELLS": (2_000_000, "cells of a sheet, counted from A1 to its last used row and column"),
    "ILMS_MAX_PARSE_SECONDS": (60, "seconds spent inspecting one workbook"),
}
_CHUNK = 1 << 16
_OLE_SIGNATURE = bytes.fromhex("D0CF11E0A1B11AE1")  # what Excel writes for an encrypted workbook, and .xls


def limit(name: str) -> int:
    """The limit in force: the environment variable if set to a positive number, else the default."""
    default, _ = LIMITS[name]
    raw = os.environ.get(name, "")
    try:
        value = int(float(raw))
    except ValueError:
        return default
    return value if value > 0 else default


class FileRejected(ValueError):
    """A received file refused before parsing; `rule` is the limit or convention it breaks (plain words)."""

    def __init__(self, rule: str, message: str, sheet: str = "-", cell: str = "-"):
        self.rule, self.sheet, self.cell = rule, sheet, cell
        super().__init__(f"{message} (rule: {rule})")


def quoted(name: object) -> str:
    """A file name as every output shows it: quoted, control characters and newlines escaped."""
    return repr(str(name))


def _size(n: float) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{int(n)} bytes"


# ------------------------------------------------------------------ the inbox entry itself


def check_regular_file(path: Path, inbox: Path) -> None:
    """Raise FileRejected unless `path` is a regular file, or a symlink that stays inside `inbox` and ends at
    a regular file. Uses lstat/realpath only: a FIFO, device or escaping link is never opened."""
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise FileRejected("regular files only", f"cannot be examined ({exc.strerror})") from None
    if stat.S_ISLNK(info.st_mode):
        target = Path(os.path.realpath(path))
        root = Path(os.path.realpath(inbox))
        if not target.is_relative_to(root):
            raise FileRejected("regular files only", "is a symbolic link pointing outside the inbox; copy the file in")
        try:
            info = os.stat(target)
        except OSError:
            raise FileRejected("regular files only", "is a symbolic link to nothing (dangling)") from None
    if not stat.S_ISREG(info.st_mode):
        kind = (
            "a directory"
            if stat.S_ISDIR(info.st_mode)
            else "a named pipe (FIFO)"
            if stat.S_ISFIFO(info.st_mode)
            else "a device"
            if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
            else "not a regular file"
        )
        raise FileRejected("regular files only", f"is {kind}, not a workbook file")


def read_bounded(path: Path) -> bytes:
    """The bytes of a regular file of at most ILMS_MAX_FILE_BYTES, opened without following a final
    symlink and without blocking on a FIFO."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise FileRejected("regular files only", f"cannot be opened ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise FileRejected("regular files only", "is not a regular file")
        check_file_size(info.st_size)
        data = handle.read(limit("ILMS_MAX_FILE_BYTES") + 1)
    check_file_size(len(data))
    return data


def check_file_size(size: int) -> None:
    if size > (most := limit("ILMS_MAX_FILE_BYTES")):
        raise FileRejected("ILMS_MAX_FILE_BYTES", f"the file is {_size(size)}, more than the {_size(most)} allowed")
    if size == 0:
        raise FileRejected("not empty", "the file is empty (0 bytes)")


# ------------------------------------------------------------------ the zip and its XML


@dataclass
class SheetFacts:
    """What the streaming pass saw in one sheet's XML."""

    member: str
    state: str = "visible"
    formulas: list[str] = field(default_factory=list)  # cells with an <f> element
    merged: list[str] = field(default_factory=list)  # merged ranges, e.g. "C11:D11"


@dataclass
class WorkbookFacts:
    sheets: dict[str, SheetFacts]  # by sheet name, in workbook order
    uncompressed_bytes: int


# A cell's or row's `r` attribute as calamine reads it: either quote and spaces around '=', column letters of
# either case and any number of them, any number of row digits, on an element with or without a namespace
# prefix (<x:c>). Only <c> and <row> carry one in a sheet; an `r` anywhere else is counted too (never fewer).
_REF = re.compile(rb'(?<![\w.-])r\s*=\s*["\']([A-Za-z]*)([0-9]*)["\']')
_DIMENSION = re.compile(rb'dimension\b[^>]*?\bref\s*=\s*["\']([^"\']*)["\']')  # no '<' first: 40x faster to find
_CELL_START = re.compile(rb'<(?:[\w.-]+:)?c\b[^>]*?(?:\br\s*=\s*["\']([A-Za-z]+[0-9]+)["\'][^>]*)?>')
_FORMULA = re.compile(rb"<f[\s/>]")
_PREFIXED_FORMULA = re.compile(rb"<[\w.-]+:f[\s/>]")  # <x:f>, looked for only where _PREFIXED_F finds one
_PREFIXED_F = re.compile(rb":f[\s/>]")  # a literal-led search: 3x faster than `b":f" in text`
_MERGE = re.compile(rb'<(?:[\w.-]+:)?mergeCell\b[^>]*?\bref\s*=\s*["\']([A-Za-z]+[0-9]+(?::[A-Za-z]+[0-9]+)?)["\']')
_DECLARATION = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.I)
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"


def column_number(letters: bytes | str) -> int:
    n = 0
    for ch in (letters.decode() if isinstance(letters, bytes) else letters).upper():
        n = n * 26 + ord(ch) - 64
    return n


def _row_number(digits: bytes) -> int:
    """A row's number (0 for none); one of more digits than any sheet has rows counts as 10**18 (int() refuses
    4,300 digits)."""
    digits = digits.lstrip(b"0")
    return int(digits or b"0") if len(digits) < 19 else 10**18


def inspect_workbook(path: Path) -> WorkbookFacts:
    """Check the workbook against every limit before a reader parses it; raise FileRejected naming the limit."""
    steps = inspect_stepwise(path)
    facts = next(steps)
    for _ in steps:
        pass
    return facts


def inspect_stepwise(path: Path) -> Iterator[WorkbookFacts | str]:
    """`inspect_workbook` a step at a time, for a reader to follow sheet by sheet: yields the WorkbookFacts once
    the zip directory, the workbook part and the shared strings are checked (what opening a reader parses),
    then each sheet's name once its part is checked, in workbook order; the facts are complete at the end."""
    deadline = time.monotonic() + limit("ILMS_MAX_PARSE_SECONDS")
    check_file_size(os.stat(path).st_size)
    with open(path, "rb") as handle:
        if handle.read(8) == _OLE_SIGNATURE:
            raise FileRejected(
                "an .xlsx workbook",
                "is a password-protected workbook or an old-format .xls file (an OLE "
                "container, not a zip); remove the password, or save it as an Excel Workbook (.xlsx)",
            )
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise FileRejected(
            "an .xlsx workbook", f"is not an .xlsx workbook (not a readable zip archive: {exc})"
        ) from None
    with zf:
        members = zf.infolist()
        _check_directory(members)
        names = {m.filename for m in members}
        if "xl/workbook.xml" not in names:
            raise FileRejected("an .xlsx workbook", "is a zip archive but not an .xlsx workbook (no xl/workbook.xml)")
        sheets = _sheets(zf, names, deadline)
        if "xl/sharedStrings.xml" in names:
            _scan(zf, zf.getinfo("xl/sharedStrings.xml"), None, deadline)
        yield WorkbookFacts(sheets, sum(m.file_size for m in members))
        for name, sheet in sheets.items():
            _scan(zf, zf.getinfo(sheet.member), sheet, deadline)
            yield name


def _check_directory(members: list[zipfile.ZipInfo]) -> None:
    if len(members) > (most := limit("ILMS_MAX_ZIP_MEMBERS")):
        raise FileRejected(
            "ILMS_MAX_ZIP_MEMBERS", f"the workbook has {len(members)} parts, more than the {most} allowed"
        )
    ratio_limit = limit("ILMS_MAX_COMPRESSION_RATIO")
    for m in members:
        if m.flag_bits & 0x1:
            raise FileRejected("not encrypted", f"part {m.filename!r} is encrypted; remove the password and save again")
        if m.file_size > 1 << 16 and m.file_size > ratio_limit * max(m.compress_size, 1):
            raise FileRejected(
                "ILMS_MAX_COMPRESSION_RATIO",
                f"part {m.filename!r} is compressed {m.file_size / max(m.compress_size, 1):.0f} to 1, "
                f"more than the {ratio_limit} to 1 allowed (a zip bomb?)",
            )
    total = sum(m.file_size for m in members)
    if total > (most := limit("ILMS_MAX_UNCOMPRESSED_BYTES")):
        raise FileRejected(
            "ILMS_MAX_UNCOMPRESSED_BYTES",
            f"the workbook unpacks to {_size(total)}, more than the {_size(most)} allowed",
        )


def _read_small(zf: zipfile.ZipFile, name: str, deadline: float) -> bytes:
    """A small XML part (workbook, relationships) read whole after the same checks as the sheets."""
    info = zf.getinfo(name)
    data = b"".join(_chunks(zf, info, deadline))
    if _DECLARATION.search(data):
        raise FileRejected(
            "no XML entity declarations",
            f"part {name!r} declares a DOCTYPE or entities; save the workbook again from Excel",
        )
    return data


def _sheets(zf: zipfile.ZipFile, names: set[str], deadline: float) -> dict[str, SheetFacts]:
    try:
        book = ElementTree.fromstring(_read_small(zf, "xl/workbook.xml", deadline))
        rels = (
            ElementTree.fromstring(_read_small(zf, "xl/_rels/workbook.xml.rels", deadline))
            if "xl/_rels/workbook.xml.rels" in names
            else None
        )
    except ElementTree.ParseError as exc:
        raise FileRejected("an .xlsx workbook", f"its workbook part is not well-formed XML ({exc})") from None
    targets = {r.get("Id"): r.get("Target", "") for r in (rels if rels is not None else [])}
    sheets = {}
    for sheet in book.iter():
        if not sheet.tag.endswith("}sheet"):
            continue
        target = targets.get(sheet.get(f"{_REL_NS}id"), "")
        member = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        member = os.path.normpath(member).replace(os.sep, "/")
        if member in names:
            sheets[sheet.get("name", "")] = SheetFacts(member, state=sheet.get("state") or "visible")
    return sheets


def _chunks(zf: zipfile.ZipFile, info: zipfile.ZipInfo, deadline: float):
    """The decompressed bytes of a part in pieces, held to its declared size and to the time limit."""
    seen = 0
    try:
        with zf.open(info) as handle:
            while block := handle.read(_CHUNK):
                seen += len(block)
                if seen > info.file_size:
                    raise FileRejected(
                        "ILMS_MAX_UNCOMPRESSED_BYTES",
                        f"part {info.filename!r} unpacks to more than the {info.file_size} bytes it declares",
                    )
                if time.monotonic() > deadline:
                    raise FileRejected(
                        "ILMS_MAX_PARSE_SECONDS",
                        f"inspecting the workbook took more than {limit('ILMS_MAX_PARSE_SECONDS')} s",
                    )
                yield block
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
        raise FileRejected("an intact .xlsx workbook", f"part {info.filename!r} is damaged ({exc})") from None


def _scan(zf: zipfile.ZipFile, info: zipfile.ZipInfo, facts: SheetFacts | None, deadline: float) -> None:
    """One streaming pass over a sheet (or the shared strings): declarations, formulas, merges, and the cells'
    extent held to ILMS_MAX_CELLS. The quick pass only asks whether any reference lies past column Z or below
    the rows the limit allows at that width (one regex search a piece, no work per cell); a sheet where one
    does is scanned again counting every reference exactly, so neither a lying `<dimension>` nor a cell far
    out gets past, and the error names the extent as before."""
    if facts is None:
        for _ in _pieces(zf, info, deadline, whole_cells=False):
            pass
        return
    quick = _beyond(limit("ILMS_MAX_CELLS"))
    if quick is None or not _scan_sheet(_pieces(zf, info, deadline), facts, quick):
        _scan_sheet(_pieces(zf, info, deadline), facts, None)


def _pieces(zf: zipfile.ZipFile, info: zipfile.ZipInfo, deadline: float, whole_cells: bool = True):
    """The part's XML in pieces, each refused if it declares entities; with `whole_cells`, cut after the last
    complete `</c>` or `</row>`, so no cell is split between two."""
    tail, carry = b"", []
    for block in _chunks(zf, info, deadline):
        if (b"!" in block or b"!" in tail) and _DECLARATION.search(tail + block):  # a declaration starts "<!"
            raise FileRejected(
                "no XML entity declarations",
                f"part {info.filename!r} declares a DOCTYPE or entities; save the workbook again from Excel",
            )
        tail = block[-16:]
        if not whole_cells:
            yield block
            continue
        cut = max((i + len(end) for end in (b"</c>", b"</row>") if (i := block.rfind(end)) >= 0), default=-1)
        if cut < 0:
            carry.append(block)
            continue
        yield b"".join(carry) + block[:cut]
        carry = [block[cut:]]
    if carry:
        yield b"".join(carry)


def _scan_sheet(pieces, facts: SheetFacts, quick: re.Pattern[bytes] | None) -> bool:
    """Formulas and merges of a sheet, and its extent: exactly (`quick` None), or False as soon as a piece
    matches `quick` (the extent is then unknown). The `<dimension>` is held to the limit either way: openpyxl,
    the reference reader, pads every row to its width."""
    facts.formulas.clear()
    facts.merged.clear()
    extent, cells_limit = [0, 0], limit("ILMS_MAX_CELLS")  # the largest row and column so far
    for piece in pieces:
        if quick is not None and quick.search(piece):
            return False
        _marks(piece, facts)
        for ref in _DIMENSION.findall(piece):
            _held_to_limit([0, 0], [(m.group(1), m.group(2)) for m in _A1.finditer(ref)], cells_limit)
        if quick is None:
            _held_to_limit(extent, _REF.findall(piece), cells_limit)
    return True


@functools.cache
def _beyond(cells_limit: int) -> re.Pattern[bytes] | None:
    """A reference (`r="..."`) past column Z, or with more row digits than fit `cells_limit` cells at 26 columns:
    where none occurs, the sheet is within the limit. None when the limit is too small for any such bound."""
    digits = len(str(cells_limit // 26 + 1)) - 1  # the most digits d with (10**d - 1) * 26 <= cells_limit
    if digits < 1:
        return None
    # no \b before the r: a leading \b made this search 5x slower; a match inside another attribute's name
    # (footer="...") only sends the sheet to the exact count
    # calamine reads a reference as letters (either case) then digits, and refuses any other spelling
    return re.compile(rb'r\s*=\s*["\'](?:[A-Za-z]{2,}[0-9]|[A-Za-z]?[0-9]{%d})' % (digits + 1))


_A1 = re.compile(rb"\$?([A-Za-z]*)\$?([0-9]*)")


def _marks(text: bytes, facts: SheetFacts) -> None:
    """The formulas (a cell looked at only where an `<f` element occurs) and merged ranges of a piece."""
    found = list(_FORMULA.finditer(text))
    if _PREFIXED_F.search(text):  # a sheet written with a namespace prefix (<x:f>)
        found = sorted([*found, *_PREFIXED_FORMULA.finditer(text)], key=lambda m: m.start())
    for formula in found:
        facts.formulas.append(_cell_of(text, formula.start()))
    if b"mergeCell" in text:
        facts.merged += [m.group(1).decode().upper() for m in _MERGE.finditer(text)]


def _cell_of(text: bytes, at: int) -> str:
    """The reference of the cell whose element holds position `at` ('-' if it has none or none is open)."""
    start = max(text.rfind(b"<c", 0, at), text.rfind(b":c", 0, at))
    if start >= 0 and text[start] == ord(":"):
        start = text.rfind(b"<", 0, start)
    cell = _CELL_START.match(text, start) if start >= 0 else None
    if cell is None or cell.group(1) is None or text.find(b"c>", cell.end(), at) >= 0:
        return "-"
    letters, digits = _A1.match(cell.group(1)).groups()
    return f"{letters.decode().upper()}{_row_number(digits)}"


def _held_to_limit(extent: list[int], refs: list[tuple[bytes, bytes]], cells_limit: int) -> None:
    """Widen `extent` (largest row, column) by the (letters, digits) of `refs`; refuse it past `cells_limit`."""
    if refs:
        letters, digits = zip(*refs)
        extent[0] = max(extent[0], max(map(_row_number, set(digits))))
        extent[1] = max(extent[1], max(map(column_number, set(letters))))
    if extent[0] * max(extent[1], 1) > cells_limit:
        raise FileRejected(
            "ILMS_MAX_CELLS",
            f"a sheet reaches row {extent[0]}, column {extent[1]}: more than the {cells_limit} cells allowed",
        )
