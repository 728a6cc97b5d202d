"""Reading a submitted workbook's cells: python-calamine (Rust) by default, openpyxl as the reference.

Both readers give the same thing: `{sheet name: grid}`, a grid being a list of rows of cell values, rows and
columns counted from A1 whatever the sheet's used range. The readers spell an empty cell ('' or None) and a
whole number (2024.0 or 2024) differently; `plain` makes them one, and the parser reads every cell through it,
so the two readers cannot disagree on a cell (tests/questionnaire/test_reader.py compares them on every sample submission).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path

Grid = list[list[object]]
READERS = ("calamine", "openpyxl")


class UnreadableWorkbook(ValueError):
    """The file is not a workbook either reader can open."""


def read_grids(
    path: Path, sheets: Iterable[str], reader: str = "calamine", checked: Iterable[str] | None = None
) -> tuple[list[str], Mapping[str, Grid]]:
    """(every sheet name in the workbook, {name: grid} of the wanted `sheets` that exist).

    `checked`, where given, names the sheets as the guard passes them (`guards.inspect_stepwise` after its
    first step) and is gone through whole before this returns, its errors raised as they come. calamine
    reads a sheet only once it is named there, in a thread of its own (calamine releases the GIL): while the
    guard checks the next sheet, and after, while the caller works on the sheets already read (a grid is
    waited for where it is looked up; a sheet calamine cannot read raises UnreadableWorkbook there).
    openpyxl reads once every sheet is checked. Close the grids (`with`) to stop the thread early."""
    if reader not in READERS:
        raise ValueError(f"unknown workbook reader {reader!r}; choose one of {', '.join(READERS)}")
    if reader == "calamine":
        follower = _CalamineFollower(path, list(dict.fromkeys(sheets)))
        try:
            for name in checked or ():
                follower.request(name)
        except BaseException:
            follower.close()
            raise
        follower.request(_REST)
        return follower.names(), follower
    for _ in checked or ():
        pass
    names, grids = _read_openpyxl(path, sheets)
    return names, _Read(grids)


class _Read(dict):
    """Grids read whole: closing them is a no-op."""

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *_):
        pass


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


class _CalamineFollower(Mapping):
    """{name: grid} of the wanted sheets, read by calamine in a thread of its own as the guard passes them.
    A workbook calamine panics on (a Rust panic is a BaseException, e.g. a duration cell out of its range) is
    read by openpyxl instead: it is a workbook, and its cells get the parser's usual findings."""

    def __init__(self, path: Path, sheets: list[str]):
        self._path, self._sheets, self._grids = path, sheets, {}
        self._names: list[str] | None = None
        self._error: BaseException | None = None
        self._finished, self._closed, self._fallback = False, False, None
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._changed = threading.Condition()
        threading.Thread(target=self._work, name="calamine", daemon=True).start()

    def request(self, job) -> None:
        self._jobs.put(job)

    def close(self) -> None:
        """Stop after the sheet being read (the thread closes the workbook)."""
        self._closed = True
        self._jobs.put(_END)

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()

    def _work(self) -> None:
        import python_calamine

        wb = None
        try:
            wb = python_calamine.CalamineWorkbook.from_path(str(self._path))
            self._publish(names=list(wb.sheet_names))
            while (job := self._jobs.get()) is not _END:
                for name in [n for n in self._sheets if n not in self._grids] if job is _REST else [job]:
                    if self._closed:
                        return
                    if name in self._names and name in self._sheets and name not in self._grids:
                        self._publish(grid=(name, wb.get_sheet_by_name(name).to_python(skip_empty_area=False)))
                if job is _REST:
                    break
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread
            self._publish(error=exc)
        finally:
            if wb is not None:
                wb.close()
            self._publish(finished=True)

    def _publish(self, names=None, grid=None, error=None, finished=False) -> None:
        with self._changed:
            if names is not None:
                self._names = names
            if grid is not None:
                self._grids[grid[0]] = grid[1]
            self._error = self._error or error
            self._finished = self._finished or finished
            self._changed.notify_all()

    def _wait(self, ready) -> None:
        """Wait until `ready()` or the thread failed or ended; raise its error (UnreadableWorkbook for calamine's
        own errors) unless it panicked, which leaves the grids to openpyxl."""
        with self._changed:
            self._changed.wait_for(lambda: ready() or self._error is not None or self._finished)
        exc = self._error
        if exc is None or self._fallback is not None or ready():
            return
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise exc
        if type(exc).__name__ != "PanicException":
            raise UnreadableWorkbook(f"{type(exc).__name__}: {exc}") from None
        self._fallback = _read_openpyxl(self._path, self._sheets)

    def names(self) -> list[str]:
        self._wait(lambda: self._names is not None)
        return self._fallback[0] if self._fallback is not None else self._names

    def __getitem__(self, name: str) -> Grid:
        if name not in self:
            raise KeyError(name)
        self._wait(lambda: name in self._grids)
        return self._fallback[1][name] if self._fallback is not None else self._grids[name]

    def __contains__(self, name: object) -> bool:
        return name in self._sheets and name in self.names()

    def __iter__(self):
        return (name for name in self._sheets if name in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)


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
