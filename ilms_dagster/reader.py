"""Reading a submitted workbook's cells: python-calamine (Rust) by default, openpyxl as the reference.

Both readers give the same thing: `{sheet name: grid}`, a grid being a list of rows of cell values, rows and
columns counted from A1 whatever the sheet's used range. The readers spell an empty cell ('' or None) and a
whole number (2024.0 or 2024) differently; `plain` makes them one, and the parser reads every cell through it,
so the two readers cannot disagree on a cell (tests/test_reader.py compares them on every sample submission).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path

Grid = list[list[object]]
READERS = ("calamine", "openpyxl")


class UnreadableWorkbook(ValueError):
    """The file is not a workbook either reader can open."""


def read_grids(path: Path, sheets: Iterable[str], reader: str = "calamine",
               checked: Iterable[str] | None = None) -> tuple[list[str], dict[str, Grid]]:
    """(every sheet name in the workbook, {name: grid} of the wanted `sheets` that exist).

    `checked`, where given, names the sheets as the guard passes them (`guards.inspect_stepwise` after its
    first step) and is gone through whole, its errors raised as they come: calamine reads a sheet only once
    it is named there, in a thread of its own while the guard checks the next sheet (calamine releases the
    GIL, so on two cores the two overlap); openpyxl reads once every sheet is checked."""
    if reader not in READERS:
        raise ValueError(f"unknown workbook reader {reader!r}; choose one of {', '.join(READERS)}")
    if reader == "calamine":
        return _read_calamine(path, list(sheets), checked)
    for _ in checked or ():
        pass
    return _read_openpyxl(path, sheets)


def plain(value: object) -> object:
    """One cell as the parser sees it: '' is empty (None), a whole float is an int (Excel stores every number
    as a float; openpyxl gives 2024 where calamine gives 2024.0)."""
    if value == "" or value is None:
        return None
    if type(value) is float and value.is_integer():
        return int(value)
    return value


def cell_at(grid: Grid, row: int, col: int) -> object:
    """The value at a 1-based (row, column) through `plain`, None outside the grid."""
    if row > len(grid):
        return None
    line = grid[row - 1]
    return plain(line[col - 1]) if col <= len(line) else None


_REST, _END = object(), object()  # the calamine thread's last two jobs: every wanted sheet not read yet; stop


def _read_calamine(path: Path, sheets: list[str], checked: Iterable[str] | None) -> tuple[list[str], dict[str, Grid]]:
    """calamine's grids, each sheet read once `checked` names it; a workbook calamine panics on (a Rust panic is
    a BaseException, e.g. a duration cell out of its range) is read by openpyxl instead: it is a workbook, and
    its cells get the parser's usual findings."""
    wanted = set(sheets)
    jobs: queue.SimpleQueue = queue.SimpleQueue()
    done: dict = {"grids": {}}
    worker = threading.Thread(target=_calamine_worker, args=(path, sheets, jobs, done), name="calamine", daemon=True)
    worker.start()
    try:
        for name in checked or ():
            if name in wanted:
                jobs.put(name)
        jobs.put(_REST)
    finally:
        jobs.put(_END)
        worker.join()
    if (exc := done.get("error")) is not None:
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise exc
        if type(exc).__name__ == "PanicException":
            return _read_openpyxl(path, sheets)
        raise UnreadableWorkbook(f"{type(exc).__name__}: {exc}") from None
    grids = done["grids"]
    return done["names"], {name: grids[name] for name in sheets if name in grids}


def _calamine_worker(path: Path, sheets: list[str], jobs: queue.SimpleQueue, done: dict) -> None:
    """Open the workbook, then read each sheet named by `jobs` until _END; the first error is kept in `done`
    (calamine raises its own error types for zip, XML and passwords, and OSErrors)."""
    import python_calamine

    try:
        wb = python_calamine.CalamineWorkbook.from_path(str(path))
    except BaseException as exc:  # noqa: BLE001 - given to the caller's thread
        done["error"] = exc
        return
    try:
        names = done["names"] = list(wb.sheet_names)
        grids = done["grids"]
        while (job := jobs.get()) is not _END:
            for name in [n for n in sheets if n not in grids] if job is _REST else [job]:
                if name in names and name not in grids:
                    grids[name] = wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
    except BaseException as exc:  # noqa: BLE001
        done["error"] = exc
    finally:
        wb.close()


def _read_openpyxl(path: Path, sheets: Iterable[str]) -> tuple[list[str], dict[str, Grid]]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a non-workbook
        raise UnreadableWorkbook(f"{type(exc).__name__}: {exc}") from None
    try:
        names = list(wb.sheetnames)
        grids = {}
        for name in sheets:
            if name in names:
                grids[name] = [list(row) for row in wb[name].iter_rows(min_row=1, min_col=1, values_only=True)]
        return names, grids
    finally:
        wb.close()


def as_date_text(value: object) -> object:
    """A date cell as YYYY-MM-DD text (either reader may give a datetime or a date); other values as they are."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value
