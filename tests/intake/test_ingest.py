"""Template -> filled workbook -> real Dagster run -> DuckDB, and the failures that must change nothing."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from ilms_dagster.questionnaire.annotations import NOTES_SHEET
from ilms_dagster.questionnaire.template import write_workbook
from ilms_dagster.questionnaire.workbook import METADATA_FIELDS, METADATA_FIRST_ROW, REFERENCE_SHEETS, SheetLayout
from ilms_dagster.registry import TABLES, TEMPLATE_VERSION, reference_years

ROUND, COUNTRY = "2024", "THA"
YEARS = reference_years(ROUND)  # 2021..2023


def cell_of(table_id: str, year: int, classif1: str, sex: str, classif2: str | None) -> str:
    """The template cell of one value, found through the layout the parser uses."""
    return SheetLayout(TABLES[table_id], tuple(YEARS), COUNTRY).cell_ref(year, classif1, sex, classif2)


def fill(path: Path, entries: dict[tuple, object], metadata: dict | None = None) -> Path:
    """Type values into a template as a focal point would: open it with openpyxl and set cells."""
    wb = openpyxl.load_workbook(path)
    for (table_id, year, classif1, sex, classif2), value in entries.items():
        wb[table_id][cell_of(table_id, year, classif1, sex, classif2)] = value
    for key, value in (metadata or {}).items():
        row = METADATA_FIRST_ROW + [k for k, _ in METADATA_FIELDS].index(key)
        wb["Metadata"].cell(row, 3, value)
    wb.save(path)
    return path


# What a focal point typed -> what the warehouse must hold (obs_value, note).
TYPED = {
    ("emp_by_activity", 2023, "ECO_SECTOR_TOTAL", "SEX_T", "CBR_BIR_TOTAL"): (40106.114, (40106.114, None)),
    ("emp_by_activity", 2023, "ECO_SECTOR_TOTAL", "SEX_M", "CBR_BIR_TOTAL"): (21552.86, (21552.86, None)),
    ("emp_by_activity", 2023, "ECO_SECTOR_TOTAL", "SEX_F", "CBR_BIR_TOTAL"): (18553.254, (18553.254, None)),
    ("emp_by_activity", 2022, "ECO_SECTOR_AGR", "SEX_F", "CCT_CIT_NONCIT"): (0, (0.0, None)),
    ("emp_by_activity", 2022, "ECO_SECTOR_IND", "SEX_F", "CCT_CIT_NONCIT"): ("-", (0.0, None)),
    ("emp_by_activity", 2021, "ECO_SECTOR_SER", "SEX_T", "CCT_CIT_NONCIT"): ("..", (None, "not available")),
    ("emp_by_activity", 2021, "ECO_SECTOR_X", "SEX_T", "CCT_CIT_NONCIT"): ("x", (None, "confidential")),
    # a totals-only series: only the TOTAL row, only SEX_T, one year
    ("outflow_by_destination", 2022, "CDS_DES_TOTAL", "SEX_T", None): (112.928, (112.928, None)),
    ("earnings_employees", 2021, "CUR_TYPE_LCU", "SEX_T", "CBR_BIR_FOREIGN"): (9876.5, (9876.5, None)),
}


@pytest.fixture
def filled(project) -> Path:
    path = write_workbook(project.inbox / ROUND / f"{COUNTRY}_ILMQ.xlsx", COUNTRY, ROUND)
    return fill(path, {k: typed for k, (typed, _) in TYPED.items()}, {"submission_date": "2024-09-12"})


def test_template_round_trip_gives_back_exactly_the_values_written(project, filled):
    result = project.materialize(ROUND, COUNTRY)
    assert result.success
    stored = {}
    for table_id in TABLES:
        for row in project.query(
            f"SELECT time, classif1, sex, classif2, obs_value, note, ref_area, round FROM ilmq.{table_id}"
        ):
            assert row[6:] == (COUNTRY, int(ROUND))
            stored[(table_id, *row[:4])] = tuple(row[4:6])
    assert stored == {k: want for k, (_, want) in TYPED.items()}  # blanks stay absent, zeros stay zeros


def test_rows_carry_indicator_source_cell_and_submission(project, filled):
    project.materialize(ROUND, COUNTRY)
    (sha,) = project.query("SELECT sha256 FROM raw.submissions")[0]
    rows = project.query(
        "SELECT indicator, cell, submission_sha256 FROM ilmq.emp_by_activity WHERE time = 2021 AND note = 'confidential'"
    )
    expected_cell = cell_of("emp_by_activity", 2021, "ECO_SECTOR_X", "SEX_T", "CCT_CIT_NONCIT")
    assert rows == [("MST_TEMP_SEX_ECO_CCT_NB", expected_cell, sha)]
    ((submitted, version),) = project.query("SELECT submission_date, template_version FROM raw.submissions")
    assert (str(submitted), version) == ("2024-09-12", TEMPLATE_VERSION)


def test_rematerializing_a_partition_leaves_the_warehouse_identical(project, filled):
    assert project.materialize(ROUND, COUNTRY).success
    first = project.snapshot()
    assert project.materialize(ROUND, COUNTRY).success
    assert project.snapshot() == first
    assert project.query("SELECT count(*) FROM raw.submissions") == [(1,)]


def test_same_bytes_received_twice_are_recognised_not_duplicated(project, filled):
    project.materialize(ROUND, COUNTRY)
    copy = filled.with_name(f"{COUNTRY}_ILMQ_copy.xlsx")
    copy.write_bytes(filled.read_bytes())
    project.materialize(ROUND, COUNTRY)
    assert project.query("SELECT original_name FROM raw.submissions") == [(filled.name,)]
    archived = list((project.root / "archive").rglob("*.xlsx"))
    assert len(archived) == 1 and not archived[0].stat().st_mode & 0o222  # stored once, read-only


def test_a_resubmission_replaces_exactly_its_partition(project, filled):
    other = write_workbook(
        project.inbox / ROUND / "MYS_ILMQ.xlsx",
        "MYS",
        ROUND,
        values={("wap_by_age", 2023, "AGE_AGGREGATE_TOTAL", "SEX_T", "CCT_CIT_TOTAL"): 25000.0},
    )
    assert other.exists()
    project.materialize(ROUND, COUNTRY)
    project.materialize(ROUND, "MYS")
    revised = write_workbook(
        project.inbox / ROUND / f"{COUNTRY}_ILMQ_v2.xlsx",
        COUNTRY,
        ROUND,
        values={("emp_by_activity", 2023, "ECO_SECTOR_TOTAL", "SEX_T", "CBR_BIR_TOTAL"): 40200.0},
    )
    revised.touch()  # newest file of the partition wins
    assert project.materialize(ROUND, COUNTRY).success
    assert project.query("SELECT ref_area, obs_value FROM ilmq.emp_by_activity ORDER BY 1") == [("THA", 40200.0)]
    assert project.query("SELECT ref_area, obs_value FROM ilmq.wap_by_age") == [("MYS", 25000.0)]
    assert project.query("SELECT count(*) FROM ilmq.outflow_by_destination") == [(0,)]
    assert project.query("SELECT count(*) FROM raw.submissions WHERE ref_area = 'THA'") == [(2,)]


def test_a_partition_with_no_submission_is_reported_clearly(project, filled):
    result = project.materialize(ROUND, "VNM", raise_on_error=False)
    assert not result.success
    message = failure_message(result)
    assert "No submission for VNM round 2024" in message and "VNM*.xlsx" in message
    assert not project.warehouse_path.exists() or project.snapshot().get("raw.submissions") == []


def failure_message(result) -> str:
    return "\n".join(e.step_failure_data.error.message for e in result.all_events if e.is_step_failure)


def _missing_sheet(path: Path) -> None:
    wb = openpyxl.load_workbook(path)
    del wb["outflow_by_destination"]
    wb.save(path)


def _meta(key: str, value):
    def edit(path: Path) -> None:
        fill(path, {}, {key: value})

    return edit


def _text_in_numeric_cell(path: Path) -> None:
    fill(path, {("lf_by_age", 2022, "AGE_AGGREGATE_Y15-24", "SEX_F", "CBR_BIR_FOREIGN"): "about 12"})


BAD = {
    "missing sheet": (_missing_sheet, ["sheet 'outflow_by_destination', cell -: sheet is missing"]),
    "wrong template version": (
        _meta("template_version", "ILMQ-0.9"),
        ["sheet 'Metadata', cell C4: template version 'ILMQ-0.9' is not the current"],
    ),
    "country mismatch": (
        _meta("country", "MYS"),
        ["sheet 'Metadata', cell C5: country 'MYS' does not match the submission's partition 'THA'"],
    ),
    "text in numeric cell": (
        _text_in_numeric_cell,
        [
            f"sheet 'lf_by_age', cell {cell_of('lf_by_age', 2022, 'AGE_AGGREGATE_Y15-24', 'SEX_F', 'CBR_BIR_FOREIGN')}: "
            "expected a number or '..', 'x', '-', found text 'about 12'"
        ],
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_workbook_fails_the_partition_naming_file_sheet_cell_and_changes_nothing(project, filled, case):
    assert project.materialize(ROUND, COUNTRY).success
    before = project.snapshot()
    edit, expected = BAD[case]
    bad = filled.with_name(f"{COUNTRY}_ILMQ_resubmitted.xlsx")
    bad.write_bytes(filled.read_bytes())
    edit(bad)
    result = project.materialize(ROUND, COUNTRY, raise_on_error=False)
    assert not result.success
    message = failure_message(result)
    assert bad.name in message
    for fragment in expected:
        assert fragment in message
    assert project.snapshot() == before


def test_template_restricts_input_and_locks_headers(tmp_path):
    path = write_workbook(tmp_path / "t.xlsx", "PHL", 2020)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Metadata", *REFERENCE_SHEETS[:2], *TABLES, NOTES_SHEET, REFERENCE_SHEETS[2]]
    assert wb["Metadata"]["C4"].value == TEMPLATE_VERSION and wb["Metadata"]["C4"].protection.locked
    ws = wb["emp_by_activity"]
    assert ws.protection.sheet
    first_input = cell_of("emp_by_activity", 2021, "ECO_SECTOR_TOTAL", "SEX_T", "CBR_BIR_TOTAL").replace("2021", "")
    layout = SheetLayout(TABLES["emp_by_activity"], tuple(reference_years(2020)))
    top_left = layout.input_range(0).split(":")[0]
    assert not ws[top_left].protection.locked and ws["A1"].protection.locked
    rules = ws.data_validations.dataValidation
    assert len(rules) == 3 and all(r.type == "custom" and '="x"' in r.formula1 for r in rules)
    assert str(rules[0].sqref) == layout.input_range(0)
    assert first_input  # the layout helper and the sheet agree on where inputs are


def test_template_is_deterministic(tmp_path):
    a = write_workbook(
        tmp_path / "a.xlsx",
        "LAO",
        2019,
        values={("wap_by_age", 2017, "AGE_AGGREGATE_TOTAL", "SEX_T", "CBR_BIR_TOTAL"): 4.5},
    )
    b = write_workbook(
        tmp_path / "b.xlsx",
        "LAO",
        2019,
        values={("wap_by_age", 2017, "AGE_AGGREGATE_TOTAL", "SEX_T", "CBR_BIR_TOTAL"): 4.5},
    )
    assert a.read_bytes() == b.read_bytes()
