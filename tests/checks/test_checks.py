"""Validation rules, one passing and one failing workbook each, written with openpyxl and checked as the
pipeline checks them (expectation suites where the workbook is staged, SQL rules in the warehouse)."""

from __future__ import annotations

import duckdb
import pytest

from ilms_dagster.checks import Validation, record, run_expectations, validate_submission
from ilms_dagster.intake.submissions import archive, stage
from ilms_dagster.questionnaire.template import write_workbook
from ilms_dagster.questionnaire.workbook import SheetLayout, parse_workbook
from ilms_dagster.registry import TABLES, reference_years
from ilms_dagster.resources.warehouse import ensure_schema, replace_partition, transaction

ROUND, COUNTRY = "2024", "THA"
Y1, Y2, Y3 = reference_years(ROUND)  # 2021..2023


def cell(key: tuple, round_: str = ROUND) -> str:
    table_id, year, classif1, sex, classif2 = key
    return SheetLayout(TABLES[table_id], tuple(reference_years(round_))).cell_ref(year, classif1, sex, classif2)


def validate(project, values: dict, round_: str = ROUND, country: str = COUNTRY) -> Validation:
    """Write a workbook holding `values`, then stage, load and validate it as the pipeline does."""
    path = write_workbook(project.inbox / round_ / f"{country}_ILMQ_{round_}.xlsx", country, round_, values=values)
    return validate_workbook(project, path, round_, country)


def validate_workbook(project, path, round_: str = ROUND, country: str = COUNTRY) -> Validation:
    """Stage, load and validate a received workbook as the pipeline does (submission_file, then ilmq_tables)."""
    storage = project.resources["storage"]
    staged = stage(storage, round_, country, archive(storage, path), expectations=run_expectations)
    with duckdb.connect(str(project.warehouse_path)) as conn:
        ensure_schema(conn)
        with transaction(conn):
            replace_partition(conn, round_, country, staged.parquet_by_table, staged.submission)
            validation = validate_submission(conn, staged)
            record(conn, validation)
    return validation


def findings(v: Validation) -> list[dict]:
    return v.findings[["table_id", "cell", "rule", "severity", "expected", "found"]].to_dict("records")


def finding(key: tuple, rule: str, severity: str, expected: str, found: str) -> dict:
    return {
        "table_id": key[0],
        "cell": cell(key),
        "rule": rule,
        "severity": severity,
        "expected": expected,
        "found": found,
    }


def k(table_id: str, classif1: str, sex: str = "SEX_T", classif2: str | None = None, year: int = Y1) -> tuple:
    return (table_id, year, classif1, sex, classif2)


DEST_T, DEST_MYS, DEST_SGP, DEST_X = (
    k("outflow_by_destination", c) for c in ("CDS_DES_TOTAL", "CDS_DES_MYS", "CDS_DES_SGP", "CDS_DES_X")
)
ECO = {c: k("inflow_by_activity", f"ECO_SECTOR_{c}") for c in ("TOTAL", "AGR", "NAG", "IND", "SER", "X")}
MIG = {c: k("emp_by_age", "AGE_AGGREGATE_TOTAL", "SEX_T", f"CBR_BIR_{c}") for c in ("TOTAL", "NATIVE", "FOREIGN", "X")}
EMP_F = k("emp_by_age", "AGE_AGGREGATE_Y15-24", "SEX_F", "CCT_CIT_NONCIT")
LF_F, LF_EDU, WAP_EDU = (
    ("lf_by_age", *EMP_F[1:]),
    k("lf_by_education", "EDU_AGGREGATE_BAS", "SEX_M", "CBR_BIR_FOREIGN"),
    k("wap_by_education", "EDU_AGGREGATE_BAS", "SEX_M", "CBR_BIR_FOREIGN"),
)
OCU = {y: k("inflow_by_occupation", "OCU_SKILL_TOTAL", year=y) for y in (Y1, Y2)}
SEX = {s: k("outflow_by_destination", "CDS_DES_TOTAL", s) for s in ("SEX_T", "SEX_M", "SEX_F")}
TOT = {
    "age": k("emp_by_age", "AGE_AGGREGATE_TOTAL", "SEX_T", "CBR_BIR_TOTAL"),
    "education": k("emp_by_education", "EDU_AGGREGATE_TOTAL", "SEX_T", "CBR_BIR_TOTAL"),
    "activity": k("emp_by_activity", "ECO_SECTOR_TOTAL", "SEX_T", "CBR_BIR_TOTAL"),
    "citizenship": k("emp_by_age", "AGE_AGGREGATE_TOTAL", "SEX_T", "CCT_CIT_TOTAL"),
}

# rule: (passing values, failing values, the one finding the failing values give)
CASES = {
    "sex_total": (
        {SEX["SEX_T"]: 10.0, SEX["SEX_M"]: 6.0004, SEX["SEX_F"]: 4.0},  # within 0.001 thousand
        {SEX["SEX_T"]: 10.0, SEX["SEX_M"]: 6.0, SEX["SEX_F"]: 4.5},
        finding(SEX["SEX_T"], "sex_total", "error", "10.500", "10.000"),
    ),
    "category_total": (  # ECO_SECTOR: TOTAL = AGR + IND + SER + X, NAG = TOTAL - AGR
        {ECO["TOTAL"]: 100, ECO["AGR"]: 30, ECO["NAG"]: 70, ECO["IND"]: 30, ECO["SER"]: 35, ECO["X"]: 5},
        {ECO["TOTAL"]: 100, ECO["AGR"]: 30, ECO["NAG"]: 60, ECO["IND"]: 30, ECO["SER"]: 35, ECO["X"]: 5},
        finding(ECO["NAG"], "category_total", "error", "70.000", "60.000"),
    ),
    "country_total above": (
        {DEST_T: 100, DEST_MYS: 50, DEST_SGP: 30, DEST_X: 20},
        {DEST_T: 100, DEST_MYS: 70, DEST_SGP: 30, DEST_X: 10},
        finding(DEST_T, "country_total", "error", "110.000", "100.000"),
    ),
    "country_total below": (
        {DEST_T: 100, DEST_MYS: 50, DEST_SGP: 30, DEST_X: 20},
        {DEST_T: 100, DEST_MYS: 50, DEST_SGP: 30, DEST_X: 10},
        finding(DEST_T, "country_total", "warning", "90.000", "100.000"),
    ),
    "migratory_total": (
        {MIG["TOTAL"]: 100, MIG["NATIVE"]: 80, MIG["FOREIGN"]: 15, MIG["X"]: 5},
        {MIG["TOTAL"]: 100, MIG["NATIVE"]: 80, MIG["FOREIGN"]: 15, MIG["X"]: 6},
        finding(MIG["TOTAL"], "migratory_total", "error", "101.000", "100.000"),
    ),
    "migratory_total parts only": (  # not stated left blank: native + foreign may not exceed the total
        {MIG["TOTAL"]: 100, MIG["NATIVE"]: 85, MIG["FOREIGN"]: 15},
        {MIG["TOTAL"]: 100, MIG["NATIVE"]: 80, MIG["FOREIGN"]: 25},
        finding(MIG["TOTAL"], "migratory_total", "error", "105.000", "100.000"),
    ),
    "category_total coverage": (  # a category left blank while the others fall short of the total
        {ECO["TOTAL"]: 100, ECO["AGR"]: 30, ECO["IND"]: 30, ECO["SER"]: 40},
        {ECO["TOTAL"]: 100, ECO["AGR"]: 30, ECO["IND"]: 30, ECO["SER"]: 35},
        finding(ECO["TOTAL"], "category_total", "warning", "95.000", "100.000"),
    ),
    "employed_le_labour_force": (
        {EMP_F: 8.0, LF_F: 8.0},
        {EMP_F: 12.0, LF_F: 8.0},
        finding(EMP_F, "employed_le_labour_force", "error", "<= 8.000", "12.000"),
    ),
    "labour_force_le_population": (
        {LF_EDU: 50.0, WAP_EDU: 70.0},
        {LF_EDU: 75.5, WAP_EDU: 70.0},
        finding(LF_EDU, "labour_force_le_population", "error", "<= 70.000", "75.500"),
    ),
    "total_across_tables": (  # employment by age, education, activity: one total; the odd one out is named
        {TOT["age"]: 100, TOT["education"]: 100, TOT["activity"]: 100, TOT["citizenship"]: 100},
        {TOT["age"]: 100, TOT["education"]: 100, TOT["activity"]: 90, TOT["citizenship"]: 100},
        finding(TOT["activity"], "total_across_tables", "error", "100.000", "90.000"),
    ),
    "yoy_jump": (
        {OCU[Y1]: 10.0, OCU[Y2]: 19.9},
        {OCU[Y1]: 10.0, OCU[Y2]: 25.0},
        finding(OCU[Y2], "yoy_jump", "warning", "between 5.000 and 20.000", "25.000"),
    ),
    "value_minimum": (
        {DEST_T: 0.0},
        {DEST_T: -3.5},
        finding(DEST_T, "value_minimum", "error", "a value >= 0 (thousands of persons)", "-3.5"),
    ),
    "value_minimum earnings": (  # earnings must be positive: 0 is not a wage
        {k("earnings_employees", "CUR_TYPE_LCU", "SEX_T", "CCT_CIT_NONCIT"): 9500.0},
        {k("earnings_employees", "CUR_TYPE_LCU", "SEX_T", "CCT_CIT_NONCIT"): 0},
        finding(
            k("earnings_employees", "CUR_TYPE_LCU", "SEX_T", "CCT_CIT_NONCIT"),
            "value_minimum",
            "error",
            "a value > 0 (local currency per month)",
            "0.0",
        ),
    ),
    "value_maximum": (
        {DEST_T: 1_400_000},
        {DEST_T: 2_500_000},
        finding(DEST_T, "value_maximum", "error", "a value <= 1500000 (thousands of persons)", "2500000.0"),
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_rule_passes_good_figures_and_names_the_cell_of_bad_ones(project, case):
    good, bad, expected = CASES[case]
    assert findings(validate(project, good)) == []
    result = validate(project, bad)
    assert findings(result) == [expected]
    assert result.errors == (expected["severity"] == "error")


def test_totals_only_and_marked_parts_are_not_checked(project):
    """A total alone, or parts marked '..' / 'x', cannot be summed: no finding, no guess."""
    values = {SEX["SEX_T"]: 10.0, SEX["SEX_M"]: "..", SEX["SEX_F"]: 4.0, DEST_MYS: "x", ECO["TOTAL"]: 55.0}
    assert findings(validate(project, values)) == []


def test_earnings_are_not_summed(project):
    """Earnings are means, not counts: SEX_T is not SEX_M + SEX_F and no sum rule applies."""
    earn = {s: k("earnings_employees", "CUR_TYPE_LCU", s, "CBR_BIR_TOTAL") for s in ("SEX_T", "SEX_M", "SEX_F")}
    assert findings(validate(project, {earn["SEX_T"]: 9000.0, earn["SEX_M"]: 9500.0, earn["SEX_F"]: 8300.0})) == []


def test_revisions_against_the_previous_round_are_listed(project):
    year = reference_years("2023")[-1]  # 2022: in the windows of both rounds
    key = k("emp_by_activity", "ECO_SECTOR_TOTAL", "SEX_T", "CCT_CIT_TOTAL", year=year)
    other = k("outflow_by_destination", "CDS_DES_TOTAL", year=year)
    validate(project, {key: 100.0, other: 40.0}, round_="2023")
    result = validate(project, {key: 106.0, other: 41.0})  # +6% is a revision to confirm, +2.5% is not
    assert findings(result) == [finding(key, "revision", "warning", "100.000", "106.000")]
    assert "revised from 100.000 (round 2023) to 106.000 (+6.0%)" in result.findings.message[0]


@pytest.fixture(scope="module")
def clean_tables(tmp_path_factory) -> dict:
    values = {DEST_T: 100, DEST_MYS: 50, DEST_SGP: 30, DEST_X: 20, MIG["TOTAL"]: 100, MIG["NATIVE"]: 85}
    path = write_workbook(tmp_path_factory.mktemp("gx") / "THA.xlsx", COUNTRY, ROUND, values=values)
    return parse_workbook(path, COUNTRY, ROUND, sha256="0" * 64).tables


def _mutated(tables: dict, table_id: str, column: str, value, row: int = 0) -> dict:
    frame = tables[table_id].copy()
    frame.loc[row, column] = value
    return tables | {table_id: frame}


# What the parser cannot produce from the template but the suites still guard (tidy data from elsewhere)
EXPECTATION_CASES = {
    "category_codes": ("outflow_by_destination", "classif1", "CDS_DES_XYZ", "CDS_DES_XYZ"),
    "sex_codes": ("outflow_by_destination", "sex", "SEX_O", "SEX_O"),
    "status_codes": ("outflow_by_destination", "classif2", "CBR_BIR_TOTAL", "CBR_BIR_TOTAL"),
    "indicator_codes": ("emp_by_age", "indicator", "MST_TEMP_SEX_AGE_MTS_NB", "MST_TEMP_SEX_AGE_MTS_NB"),
    "reference_years": ("emp_by_age", "time", 2015, "2015"),
    "missing_markers": ("emp_by_age", "note", "estimated", "estimated"),
}


@pytest.mark.parametrize("rule", EXPECTATION_CASES)
def test_expectation_suite_flags_codes_years_and_markers_outside_the_registry(clean_tables, rule):
    assert run_expectations(clean_tables, ROUND).empty
    table_id, column, value, found = EXPECTATION_CASES[rule]
    tables = _mutated(clean_tables, table_id, column, value)
    result = run_expectations(tables, ROUND)
    assert result[["table_id", "cell", "check_name", "rule", "severity", "found"]].to_dict("records") == [
        {
            "table_id": table_id,
            "cell": tables[table_id].cell[0],
            "check_name": "expectations",
            "rule": rule,
            "severity": "error",
            "found": found,
        }
    ]


def test_expectation_suite_flags_duplicate_keys(clean_tables):
    frame = clean_tables["outflow_by_destination"]
    tables = clean_tables | {"outflow_by_destination": frame.iloc[[0, 1, 0]].reset_index(drop=True)}
    result = run_expectations(tables, ROUND)
    assert list(result.rule) == ["unique_keys", "unique_keys"] and list(result.cell) == [frame.cell[0], frame.cell[0]]


def test_sums_tolerate_the_rounding_of_each_term_and_no_more(project):
    """Published counts are rounded to 0.001 thousand, so each term may be off by 0.0005: SEX_T = M + F (3 terms)
    may miss by 0.0015, TOTAL = AGR + IND + SER + X (5 terms) by 0.0025; a hair more is an error."""
    assert findings(validate(project, {SEX["SEX_T"]: 10.0, SEX["SEX_M"]: 6.0015, SEX["SEX_F"]: 4.0})) == []
    assert [
        f["rule"] for f in findings(validate(project, {SEX["SEX_T"]: 10.0, SEX["SEX_M"]: 6.002, SEX["SEX_F"]: 4.0}))
    ] == ["sex_total"]
    sectors = {ECO["AGR"]: 30, ECO["IND"]: 30, ECO["SER"]: 35, ECO["X"]: 5}
    assert findings(validate(project, sectors | {ECO["TOTAL"]: 100.0025})) == []
    bad = findings(validate(project, sectors | {ECO["TOTAL"]: 100.003}))
    assert [(f["rule"], f["cell"]) for f in bad] == [("category_total", cell(ECO["TOTAL"]))]
