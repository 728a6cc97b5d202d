"""Open partner lists, observation status and notes (issue 15) and the template a statistician can print and
follow (issue 16): real workbooks written by the template, edited with openpyxl as a focal point would, parsed,
loaded by a real Dagster run into a real DuckDB file and exported."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from ilms_dagster.assets.sql_models import MODEL_ASSETS
from ilms_dagster.cli import app
from ilms_dagster.questionnaire.annotations import NOTES_HEADER_ROW, NOTES_SHEET, split_notes
from ilms_dagster.questionnaire.samples import sample_values
from ilms_dagster.questionnaire.template import write_workbook
from ilms_dagster.questionnaire.workbook import REFERENCE_SHEETS, SheetLayout, SubmissionError, parse_workbook
from ilms_dagster.registry import COUNTRY_NAMES, PARTNER_ROWS_TO_ADD, TABLES, reference_years

ROUND, COUNTRY = 2024, "THA"
YEARS = tuple(reference_years(ROUND))
DEST = TABLES["outflow_by_destination"]
runner = CliRunner()


def workbook(path: Path, country: str = COUNTRY, **values) -> Path:
    sample, meta = sample_values(country, ROUND)
    return write_workbook(path, country, ROUND, values=sample | values, metadata=meta)


def add_partner(ws, layout: SheetLayout, year_index: int, slot: int, typed: str, column: str, values: dict) -> int:
    """Type a partner in a row to add (column 'A' code or 'B' name) and its figures by sex; returns the row."""
    row = layout.added_rows(year_index)[slot]
    ws[f"{column}{row}"] = typed
    for j, c in enumerate(DEST.columns):
        if c.sex in values:
            ws.cell(row, layout.FIRST_VALUE_COL + j, values[c.sex])
    return row


def note(wb, line: int, *fields) -> None:
    ws = wb[NOTES_SHEET]
    for j, value in enumerate(fields, start=1):
        ws.cell(NOTES_HEADER_ROW + line, j, value)


def test_layout_leaves_out_the_reporting_country_and_keeps_rows_to_add_partners():
    layout = SheetLayout(DEST, YEARS, COUNTRY)
    assert "CDS_DES_THA" not in layout.rows and "CDS_DES_MYS" in layout.rows
    assert layout.rows.count(None) == PARTNER_ROWS_TO_ADD and layout.rows[-1] == "CDS_DES_X"
    assert len(SheetLayout(DEST, YEARS, "PHL").rows) == len(layout.rows)  # one partner less either way
    assert len(DEST.codes) > 249 > len(DEST.categories)  # every ISO 3166-1 country is a valid code


def test_an_added_partner_typed_by_name_or_code_is_parsed_as_its_iso3_code(tmp_path):
    path = workbook(tmp_path / "THA.xlsx")
    wb = openpyxl.load_workbook(path)
    ws, layout = wb[DEST.sheet], SheetLayout(DEST, YEARS, COUNTRY)
    isr = add_partner(ws, layout, 0, 0, "Israel", "B", {"SEX_T": 3.5, "SEX_M": 2.0, "SEX_F": 1.5})
    add_partner(ws, layout, 1, 3, "swe", "A", {"SEX_T": 0.25})
    wb.save(path)
    frame = parse_workbook(path, COUNTRY, ROUND).tables[DEST.id]
    added = frame[frame.classif1.isin(["CDS_DES_ISR", "CDS_DES_SWE"])]
    assert sorted(added[["classif1", "time", "sex", "obs_value"]].itertuples(index=False, name=None)) == [
        ("CDS_DES_ISR", YEARS[0], "SEX_F", 1.5),
        ("CDS_DES_ISR", YEARS[0], "SEX_M", 2.0),
        ("CDS_DES_ISR", YEARS[0], "SEX_T", 3.5),
        ("CDS_DES_SWE", YEARS[1], "SEX_T", 0.25),
    ]
    assert set(added[added.classif1 == "CDS_DES_ISR"].cell) == {f"{c}{isr}" for c in "CDE"}


def test_unknown_own_and_repeated_partners_are_errors_naming_the_cell(tmp_path):
    path = workbook(tmp_path / "THA.xlsx")
    wb = openpyxl.load_workbook(path)
    ws, layout = wb[DEST.sheet], SheetLayout(DEST, YEARS, COUNTRY)
    rows = [
        add_partner(ws, layout, 0, k, typed, "A", {"SEX_T": 1.0})
        for k, typed in enumerate(["Atlantis", "THA", "Malaysia", "ISR", "Israel"])
    ]
    blank = layout.added_rows(0)[7]
    ws.cell(blank, layout.FIRST_VALUE_COL, 4.0)  # figures with no partner
    wb.save(path)
    with pytest.raises(SubmissionError) as caught:
        parse_workbook(path, COUNTRY, ROUND)
    got = {cell: msg for sheet, cell, msg in caught.value.problems if sheet == DEST.sheet}
    assert "not a country's ISO 3166-1 code or name" in got[f"A{rows[0]}"]
    assert "reporting country itself" in got[f"A{rows[1]}"]
    assert "has a row of its own" in got[f"A{rows[2]}"]
    assert f"already added in row {rows[3]}" in got[f"A{rows[4]}"]
    assert "no partner country" in got[f"A{blank}"]
    assert len(got) == 5


def test_prefill_carries_partners_without_a_row_of_their_own(tmp_path):
    year = YEARS[2]
    extra = {(DEST.id, year, "CDS_DES_ROU", "SEX_T", None): 0.7, (DEST.id, year, "CDS_DES_ISR", "SEX_T", None): 1.1}
    path = write_workbook(
        tmp_path / "prefilled.xlsx",
        COUNTRY,
        ROUND,
        values=sample_values(COUNTRY, ROUND)[0] | extra,
        metadata=sample_values(COUNTRY, ROUND)[1],
    )
    ws = openpyxl.load_workbook(path)[DEST.sheet]
    rows = SheetLayout(DEST, YEARS, COUNTRY).added_rows(2)
    assert [(ws[f"A{r}"].value, ws[f"B{r}"].value) for r in rows[:2]] == [("ISR", "Israel"), ("ROU", "Romania")]
    frame = parse_workbook(path, COUNTRY, ROUND).tables[DEST.id]
    got = frame[frame.classif1.isin(["CDS_DES_ROU", "CDS_DES_ISR"])]
    assert dict(zip(got.classif1, got.obs_value, strict=True)) == {"CDS_DES_ISR": 1.1, "CDS_DES_ROU": 0.7}


def test_notes_sheet_gives_status_and_notes_per_cell_and_per_table(tmp_path):
    path = workbook(tmp_path / "THA.xlsx")
    wb = openpyxl.load_workbook(path)
    note(wb, 1, "emp_by_activity", None, None, None, None, "Labour force survey, quarterly average")
    note(wb, 2, "emp_by_activity", YEARS[0], "ECO_SECTOR_AGR", "SEX_F CBR_BIR_FOREIGN", "u", "Small sample")
    note(wb, 3, "emp_by_activity", YEARS[1], None, None, "B", None)
    wb.save(path)
    frame = parse_workbook(path, COUNTRY, ROUND).tables["emp_by_activity"]
    cell = frame[
        (frame.time == YEARS[0])
        & (frame.classif1 == "ECO_SECTOR_AGR")
        & (frame.sex == "SEX_F")
        & (frame.classif2 == "CBR_BIR_FOREIGN")
    ].iloc[0]
    assert cell.obs_status == "U"
    assert split_notes(cell.note) == {
        "note_classif": "Small sample",
        "note_indicator": "Labour force survey, quarterly average",
        "note_source": None,
    }
    assert set(frame[frame.time == YEARS[1]].obs_status) == {"B"}
    assert frame[frame.time == YEARS[2]].obs_status.isna().all()
    assert (
        frame.note.map(lambda n: split_notes(n)["note_indicator"]) == "Labour force survey, quarterly average"
    ).all()


def test_bad_note_lines_are_reported_with_every_other_problem_in_one_pass(tmp_path):
    """Three kinds of mistake (a bad date, a text in a value cell, a note for an unknown table and status):
    one parse reports them all, each at its cell."""
    path = workbook(tmp_path / "THA.xlsx")
    wb = openpyxl.load_workbook(path)
    wb["Metadata"]["C13"] = "31/09/2024"
    layout = SheetLayout(TABLES["emp_by_age"], YEARS, COUNTRY)
    ref = layout.cell_ref(YEARS[0], "AGE_AGGREGATE_TOTAL", "SEX_T", "CBR_BIR_TOTAL")
    wb["emp_by_age"][ref] = "about 40"
    note(wb, 1, "no_such_table", None, None, None, "B", None)
    note(wb, 2, "emp_by_age", YEARS[0], None, None, "Q", "a status that does not exist")
    note(wb, 3, "emp_by_age", 1990, None, None, None, "a year outside the round")
    wb.save(path)
    with pytest.raises(SubmissionError) as caught:
        parse_workbook(path, COUNTRY, ROUND)
    where = {(sheet, cell) for sheet, cell, _ in caught.value.problems}
    assert {
        ("Metadata", "C13"),
        ("emp_by_age", ref),
        (NOTES_SHEET, f"A{NOTES_HEADER_ROW + 1}"),
        (NOTES_SHEET, f"E{NOTES_HEADER_ROW + 2}"),
        (NOTES_SHEET, f"B{NOTES_HEADER_ROW + 3}"),
    } == where


def test_template_prints_and_reads_as_a_statistician_expects(tmp_path):
    wb = openpyxl.load_workbook(workbook(tmp_path / "THA.xlsx"))
    assert wb.sheetnames[:3] == ["Metadata", *REFERENCE_SHEETS[:2]] and wb.sheetnames[-2:] == [
        NOTES_SHEET,
        "Partner countries",
    ]
    contents = wb["Contents"]
    linked = [c.value for c in contents["A"] if c.hyperlink]
    assert set(linked) >= {t.sheet for t in TABLES.values()}
    definitions = " ".join(str(c.value) for row in wb["Definitions"].iter_rows() for c in row if c.value)
    assert "20th ICLS" in definitions and "Confidential" in definitions and "Break in series" in definitions
    partners = wb["Partner countries"]
    assert partners.max_row == len(COUNTRY_NAMES) + 1 and partners["A2"].value == "BRN"
    for table in TABLES.values():
        ws = wb[table.sheet]
        assert ws.page_setup.orientation == "landscape" and str(ws.page_setup.paperSize) == ws.PAPERSIZE_A4
        assert ws.sheet_properties.pageSetUpPr.fitToPage and (ws.page_setup.fitToWidth, ws.page_setup.fitToHeight) == (
            1,
            2,
        )
        assert ws.print_title_rows == "$1:$5" and ws.print_title_cols == "$A:$B" and ws.print_area
        if table.bases:  # column groups headed by their migratory basis
            top = SheetLayout.FIRST_BLOCK_ROW
            assert ws.cell(top, 3).value.startswith("By place of birth (CBR)")
            assert ws.cell(top, 3 + 12).value.startswith("By citizenship (CCT)")
    ws = wb[DEST.sheet]
    codes = {c.value for c in ws["A"] if isinstance(c.value, str)}
    assert "CDS_DES_THA" not in codes and "CDS_DES_MYS" in codes


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["--country", "XYZ1", "--round", "2024"], "not an ISO 3166-1 alpha-3"),
        (["--country", "THA", "--round", "26"], "not a collection round"),
        (["--country", "THA", "--round", "2011"], "not a collection round"),
        (["--country", "THA", "--round", "2031"], "not a collection round"),
    ],
)
def test_template_command_rejects_bad_arguments_clearly(tmp_path, args, fragment):
    done = runner.invoke(app, ["template", *args, "--out", str(tmp_path / "t.xlsx")])
    assert done.exit_code == 2 and fragment in " ".join(done.output.split()).replace("│", "")
    assert not (tmp_path / "t.xlsx").exists()


def test_added_partner_and_status_reach_the_warehouse_and_the_export(project):
    """The focal point moves half of 'other countries' to Israel, typed by name in a row to add, and marks
    the newest year's figure as a break in series: both land in ilmq, the marts and the ILOSTAT export."""
    values, meta = sample_values(COUNTRY, ROUND)
    moved = {
        (year, sex): round(values[(DEST.id, year, "CDS_DES_X", sex, None)] / 2, 3)
        for year in YEARS
        for sex in ("SEX_M", "SEX_F")
    }
    for year in YEARS:
        moved[year, "SEX_T"] = round(moved[year, "SEX_M"] + moved[year, "SEX_F"], 3)
        for sex in ("SEX_T", "SEX_M", "SEX_F"):
            values[(DEST.id, year, "CDS_DES_X", sex, None)] = round(
                values[(DEST.id, year, "CDS_DES_X", sex, None)] - moved[year, sex], 3
            )
    path = write_workbook(project.inbox / str(ROUND) / f"{COUNTRY}_ILMQ_{ROUND}.xlsx", COUNTRY, ROUND, values, meta)
    wb = openpyxl.load_workbook(path)
    layout = SheetLayout(DEST, YEARS, COUNTRY)
    for k, year in enumerate(YEARS):
        add_partner(
            wb[DEST.sheet], layout, k, 0, "Israel", "B", {sex: moved[year, sex] for sex in ("SEX_T", "SEX_M", "SEX_F")}
        )
    note(wb, 1, DEST.id, YEARS[2], "ISR", "SEX_T", "B", "New bilateral agreement")
    wb.save(path)
    assert project.materialize(str(ROUND), COUNTRY).success
    rows = project.query(
        f"SELECT time, obs_value, obs_status, note FROM ilmq.{DEST.id} WHERE classif1 = 'CDS_DES_ISR' "
        "AND sex = 'SEX_T' ORDER BY time"
    )
    assert [(t, v, s) for t, v, s, _ in rows] == [(y, moved[y, "SEX_T"], "B" if y == YEARS[2] else None) for y in YEARS]
    assert split_notes(rows[2][3])["note_classif"] == "New bilateral agreement"
    assert dg.materialize(MODEL_ASSETS, resources=project.resources).success
    in_mart = project.query(
        f"SELECT time, category, value_thousands FROM marts.flows WHERE ref_area = '{COUNTRY}' "
        "AND classif1 = 'CDS_DES_ISR' AND sex = 'SEX_T' ORDER BY time"
    )
    assert in_mart == [(y, "Israel", moved[y, "SEX_T"]) for y in YEARS]
    out = project.root / "out"
    done = runner.invoke(app, ["export-ilostat", "--round", str(ROUND), "--out", str(out)])
    assert done.exit_code == 0, done.output
    csv = pd.read_csv(out / "ilostat" / f"{DEST.indicator}.csv", dtype=str, keep_default_na=False)
    isr = csv[(csv.ref_area == COUNTRY) & (csv.classif1 == "CDS_DES_ISR") & (csv.sex == "SEX_T")].sort_values("time")
    assert isr[["time", "obs_value", "obs_status", "note_classif"]].values.tolist() == [
        [
            str(y),
            f"{moved[y, 'SEX_T']:.15g}",
            "B" if y == YEARS[2] else "",
            "New bilateral agreement" if y == YEARS[2] else "",
        ]
        for y in YEARS
    ]


@pytest.mark.parametrize("round_", ["2011", "2031"])
def test_the_sensor_says_a_round_outside_the_partitions_is_skipped(project, round_):
    """Round 2011 (before the first round) and 2031 (not yet open) in the inbox: no run, a plain skip reason
    (`ilms template` and `ilms run` are tested in test_cli.py)."""
    from ilms_dagster.assets.operations import inbox_sensor
    from ilms_dagster.definitions import build_defs

    write_workbook(project.inbox / round_ / f"{COUNTRY}_ILMQ_{round_}.xlsx", COUNTRY, 2024)
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(
            instance=instance, definitions=build_defs(project.resources), resources=project.resources
        )
        result = inbox_sensor.evaluate_tick(context)
    assert not result.run_requests and result.cursor in (None, "{}")
    assert f"'{round_}' is not a collection round" in (result.skip_message or ""), result.skip_message


def test_a_rejected_workbook_gets_a_feedback_workbook_with_every_problem(project):
    """Three kinds of mistake, one run: the run fails naming each, and the focal point's feedback workbook lists
    them all with labels and a suggested fix; the Dagster failure links to it."""
    path = workbook(project.inbox / str(ROUND) / f"{COUNTRY}_ILMQ_{ROUND}.xlsx")
    wb = openpyxl.load_workbook(path)
    wb["Metadata"]["C13"] = "31/09/2024"
    ref = SheetLayout(TABLES["emp_by_age"], YEARS, COUNTRY).cell_ref(
        YEARS[0], "AGE_AGGREGATE_Y15-24", "SEX_T", "CBR_BIR_TOTAL"
    )
    wb["emp_by_age"][ref] = "about 40"
    atlantis = add_partner(wb[DEST.sheet], SheetLayout(DEST, YEARS, COUNTRY), 0, 0, "Atlantis", "A", {"SEX_T": 1.0})
    wb.save(path)
    result = project.materialize(str(ROUND), COUNTRY, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE").step_failure_data
    report = Path(failure.user_failure_data.metadata["feedback_report"].value)
    assert report.name.startswith(f"{COUNTRY}_rejected_") and report.exists()
    assert str(report) in failure.error.message
    rows = list(openpyxl.load_workbook(report)["Findings"].iter_rows(min_row=2, values_only=True))
    assert sorted((r[2], r[3]) for r in rows) == sorted(
        [("Metadata", "C13"), ("emp_by_age", ref), (DEST.sheet, f"A{atlantis}")]
    )
    assert all(r[8] for r in rows) and any("(rule: partner countries from ISO 3166-1)" in r[7] for r in rows)
    summary = openpyxl.load_workbook(report)["Summary"]
    assert summary["B6"].value.startswith("rejected: 3 problem(s)")
    assert not project.warehouse_path.exists() or project.query("SELECT count(*) FROM raw.submissions") == [(0,)]
