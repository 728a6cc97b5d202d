"""The fast reader (python-calamine) and the reference reader (openpyxl) see every submission alike."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from ilms_dagster.questionnaire.samples import ensure_samples
from ilms_dagster.questionnaire.template import write_workbook
from ilms_dagster.questionnaire.workbook import SheetLayout, SubmissionError, parse_workbook
from ilms_dagster.registry import REPORTING_COUNTRIES, ROUNDS, TABLES, reference_years

ROUND = ROUNDS[-1]


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> list[Path]:
    """Every sample submission of two rounds (the latest, and one with planted mistakes)."""
    return ensure_samples(tmp_path_factory.mktemp("samples"), rounds=["2019", ROUND])


def test_both_readers_give_identical_frames_and_metadata_on_every_sample(samples):
    assert len(samples) == 2 * len(REPORTING_COUNTRIES)
    for path in samples:
        country, round_ = path.name[:3], path.parent.name
        fast = parse_workbook(path, country, round_, reader="calamine")
        reference = parse_workbook(path, country, round_, reader="openpyxl")
        assert fast.metadata == reference.metadata
        assert fast.cells_total == reference.cells_total
        pd.testing.assert_frame_equal(fast.frame, reference.frame)
        assert len(fast.frame) > 0 and set(fast.tables) == set(TABLES)


def _edited(tmp_path: Path, entries: dict[tuple[str, str], object], **meta) -> Path:
    path = write_workbook(tmp_path / f"THA_ILMQ_{ROUND}.xlsx", "THA", ROUND)
    wb = openpyxl.load_workbook(path)
    for (sheet, ref), value in entries.items():
        wb[sheet][ref] = value
    for row, value in meta.items():
        wb["Metadata"][row] = value
    wb.save(path)
    return path


def _cell(table_id: str, classif1: str, sex: str = "SEX_T", classif2: str | None = "CBR_BIR_TOTAL") -> str:
    table = TABLES[table_id]
    return SheetLayout(table, tuple(reference_years(ROUND))).cell_ref(
        reference_years(ROUND)[0], classif1, sex, classif2 if table.bases else None
    )


@pytest.mark.parametrize("reader", ["calamine", "openpyxl"])
def test_both_readers_report_the_same_problems(tmp_path, reader):
    bad_text, bad_bool = _cell("emp_by_age", "AGE_AGGREGATE_TOTAL"), _cell("lf_by_age", "AGE_AGGREGATE_TOTAL")
    path = _edited(
        tmp_path,
        {("emp_by_age", bad_text): "about 12", ("lf_by_age", bad_bool): True, ("wap_by_age", "B5"): "wap_by_sex"},
        C13="2024-13-45",
    )
    with pytest.raises(SubmissionError) as caught:
        parse_workbook(path, "THA", ROUND, reader=reader)
    date = ("Metadata", "C13", "submission date '2024-13-45' is not a YYYY-MM-DD date (rule: dates as YYYY-MM-DD)")
    assert caught.value.problems[0] == date  # reported with the tables' problems, in one pass
    with_date = caught.value.problems[1:]
    path = _edited(
        tmp_path,
        {("emp_by_age", bad_text): "about 12", ("lf_by_age", bad_bool): True, ("wap_by_age", "B5"): "wap_by_sex"},
    )
    with pytest.raises(SubmissionError) as caught:
        parse_workbook(path, "THA", ROUND, reader=reader)
    assert caught.value.problems == with_date
    assert caught.value.problems == [
        ("wap_by_age", "B5", "expected table id 'wap_by_age', found 'wap_by_sex'"),
        ("lf_by_age", bad_bool, "expected a number or '..', 'x', '-', found a true/false value True"),
        ("emp_by_age", bad_text, "expected a number or '..', 'x', '-', found text 'about 12'"),
    ]


def test_a_date_typed_as_a_date_and_whole_numbers_read_alike(tmp_path):
    from datetime import datetime

    path = _edited(tmp_path, {("emp_by_age", _cell("emp_by_age", "AGE_AGGREGATE_TOTAL")): 12}, C13=datetime(2024, 9, 1))
    for reader in ("calamine", "openpyxl"):
        parsed = parse_workbook(path, "THA", ROUND, reader=reader)
        assert parsed.metadata["submission_date"] == "2024-09-01" and parsed.metadata["round"] == int(ROUND)
        assert parsed.tables["emp_by_age"]["obs_value"].tolist() == [12.0]


def test_a_date_cell_out_of_calamines_range_is_read_by_openpyxl_and_reported(tmp_path):
    from datetime import datetime

    ref = _cell("emp_by_age", "AGE_AGGREGATE_TOTAL")
    path = _edited(tmp_path, {("emp_by_age", ref): datetime(2000, 1, 1)})
    wb = openpyxl.load_workbook(path)
    wb["emp_by_age"][ref] = -(10**18)  # keeps the cell's date format: calamine's Rust code panics on it
    wb.save(path)
    for reader in ("calamine", "openpyxl"):
        with pytest.raises(SubmissionError) as caught:
            parse_workbook(path, "THA", ROUND, reader=reader)
        assert [(sheet, cell) for sheet, cell, _ in caught.value.problems] == [("emp_by_age", ref)]


def test_calamines_thread_ends_with_the_parse_whether_the_workbook_is_accepted_or_not(tmp_path, samples):
    """calamine reads the sheets in a thread of its own (reader.read_grids): it ends when the parse does, also
    when the parse stops at the first sheet (a wrong partition) with the later sheets still to read."""
    import threading
    import time

    def calamine_threads() -> list[threading.Thread]:
        deadline = time.monotonic() + 10
        while (alive := [t for t in threading.enumerate() if t.name == "calamine"]) and time.monotonic() < deadline:
            time.sleep(0.01)
        return alive

    path = samples[-1]
    parse_workbook(path, path.name[:3], path.parent.name)
    assert calamine_threads() == []
    with pytest.raises(SubmissionError, match="does not match the submission's partition"):
        parse_workbook(path, "QZZ", path.parent.name)
    assert calamine_threads() == []


def test_unknown_reader_is_a_clear_error(tmp_path):
    path = write_workbook(tmp_path / "THA.xlsx", "THA", ROUND)
    with pytest.raises(ValueError, match="unknown workbook reader 'xlrd'; choose one of calamine, openpyxl"):
        parse_workbook(path, "THA", ROUND, reader="xlrd")


def test_samples_are_byte_identical_across_processes_with_different_hash_seeds(tmp_path):
    """`set` order of strings depends on PYTHONHASHSEED: two processes must still write the same bytes."""
    script = (
        "import sys; from pathlib import Path; from ilms_dagster.questionnaire.samples import ensure_samples; "
        "ensure_samples(Path(sys.argv[1]), rounds=sys.argv[2:])"
    )
    for seed in ("1", "2"):
        env = os.environ | {"PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-c", script, str(tmp_path / seed), "2019", ROUND], env=env, check=True)
    first = sorted((tmp_path / "1").rglob("*.xlsx"))
    assert len(first) == 2 * len(REPORTING_COUNTRIES)
    for path in first:
        twin = tmp_path / "2" / path.relative_to(tmp_path / "1")
        assert path.read_bytes() == twin.read_bytes(), path.name
