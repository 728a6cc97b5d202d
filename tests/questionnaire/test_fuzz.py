"""Hypothesis fuzzing through the parser: whatever is in the cells or the bytes, only the project's own
SubmissionError may escape parse_workbook (never a reader's error, a crash or a hang)."""

from __future__ import annotations

import tempfile
from datetime import datetime
from functools import cache
from pathlib import Path

import openpyxl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ilms_dagster.questionnaire.template import write_workbook
from ilms_dagster.questionnaire.workbook import SheetLayout, SubmissionError, parse_workbook
from ilms_dagster.registry import TABLES, reference_years

ROUND, COUNTRY, TABLE = "2024", "THA", TABLES["earnings_employees"]
LAYOUT = SheetLayout(TABLE, tuple(reference_years(ROUND)))
INPUTS = [(row, col) for _, _, row, col, _ in LAYOUT.cells()]
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

cell_values = st.one_of(
    st.none(),
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40),
    st.sampled_from(["..", "x", "X", "-", " - ", "", " ", "=1+1", "=A1", "nan", "inf", "1e309", "0x10", "1,000"]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**18), max_value=10**18),
    st.booleans(),
    st.datetimes(min_value=datetime(1900, 3, 1), max_value=datetime(2100, 1, 1)),
)


def _parse(path: Path) -> None:
    try:
        parse_workbook(path, COUNTRY, ROUND, tables=[TABLE])
    except SubmissionError as exc:
        assert "Traceback" not in str(exc)


@cache
def _template() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        return write_workbook(Path(tmp) / "t.xlsx", COUNTRY, ROUND, tables=[TABLE]).read_bytes()


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(INPUTS + [(1, 1), (5, 2), (7, 2), (40, 30)]), cell_values), max_size=8))
def test_any_cell_contents_give_a_submission_or_a_submission_error(cells):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "THA.xlsx"
        path.write_bytes(_template())
        wb = openpyxl.load_workbook(path)
        for (row, col), value in cells:
            wb[TABLE.sheet].cell(row, col, value)
        wb.save(path)
        _parse(path)


@FUZZ
@given(st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=12), st.floats(0.05, 1))
def test_damaged_bytes_give_a_submission_error(flips, keep):
    data = bytearray(_template())
    for where, value in flips:
        data[int(where * (len(data) - 1))] = value
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "THA.xlsx"
        path.write_bytes(bytes(data[: max(1, int(len(data) * keep))]))
        _parse(path)
