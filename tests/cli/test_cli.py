"""The `ilms` command line on real files: prefilled templates and the definitions loading."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from ilms_dagster.cli import app
from ilms_dagster.questionnaire.template import write_workbook
from ilms_dagster.questionnaire.workbook import parse_workbook

runner = CliRunner()


def test_prefilled_template_carries_the_latest_vintage_for_revision(project):
    key = ("emp_by_activity", 2022, "ECO_SECTOR_TOTAL", "SEX_T", "CCT_CIT_NONCIT")
    write_workbook(project.inbox / "2023" / "THA.xlsx", "THA", 2023, values={key: 2900.0})
    write_workbook(
        project.inbox / "2024" / "THA.xlsx",
        "THA",
        2024,
        values={key: 2950.5, ("emp_by_activity", 2021, "ECO_SECTOR_AGR", "SEX_T", "CCT_CIT_NONCIT"): "x"},
    )
    assert project.materialize("2023", "THA").success and project.materialize("2024", "THA").success

    out = project.root / "THA_2025.xlsx"
    result = runner.invoke(app, ["template", "--country", "tha", "--round", "2025", "--out", str(out), "--prefill"])
    assert result.exit_code == 0, result.output
    assert "1 prefilled values" in result.output  # 2021 is outside round 2025's window 2022-2024
    frame = parse_workbook(out, "THA", "2025").tables["emp_by_activity"]
    assert frame[["time", "classif1", "obs_value"]].values.tolist() == [[2022, "ECO_SECTOR_TOTAL", 2950.5]]


def test_prefill_without_a_warehouse_is_a_clear_error(project):
    result = runner.invoke(
        app, ["template", "--country", "THA", "--round", "2025", "--prefill", "--out", str(project.root / "t.xlsx")]
    )
    assert result.exit_code != 0 and "no warehouse at" in result.output


def test_template_goes_to_the_data_folder_and_never_replaces_a_file_without_force(project, monkeypatch):
    """`ilms template` writes `<data>/templates/<ISO3>_ILMQ_<round>.xlsx` (not the current folder); a second
    call keeps the file and says so; --force replaces it; --prefill writes its own file beside the blank one."""
    blank = project.root / "templates" / "THA_ILMQ_2025.xlsx"
    (project.root / "checkout").mkdir()
    monkeypatch.chdir(project.root / "checkout")
    first = runner.invoke(app, ["template", "--country", "THA", "--round", "2025"])
    assert first.exit_code == 0, first.output
    assert f"Wrote {blank}" in first.output.replace("\n", "") and blank.exists()
    before = blank.read_bytes()
    blank.write_bytes(before + b"focal point's work")  # a template someone has started filling
    again = runner.invoke(app, ["template", "--country", "THA", "--round", "2025"])
    assert again.exit_code == 1
    assert (
        f"{blank} exists: not overwritten" in " ".join(again.output.replace("\n", "").split())
        and "--force" in again.output
    )
    assert blank.read_bytes() == before + b"focal point's work"

    write_workbook(
        project.inbox / "2024" / "THA.xlsx",
        "THA",
        2024,
        values={("emp_by_activity", 2022, "ECO_SECTOR_TOTAL", "SEX_T", "CCT_CIT_NONCIT"): 2950.5},
    )
    assert project.materialize("2024", "THA").success
    prefilled = runner.invoke(app, ["template", "--country", "THA", "--round", "2025", "--prefill"])
    assert prefilled.exit_code == 0, prefilled.output
    assert (project.root / "templates" / "THA_ILMQ_2025_prefilled.xlsx").exists()
    assert blank.read_bytes() == before + b"focal point's work"  # the blank template is left alone

    forced = runner.invoke(app, ["template", "--country", "THA", "--round", "2025", "--force"])
    assert forced.exit_code == 0, forced.output
    assert blank.read_bytes() == before
    out = project.root / "elsewhere" / "t.xlsx"
    assert runner.invoke(app, ["template", "--country", "THA", "--round", "2025", "--out", str(out)]).exit_code == 0
    assert "Metadata" in __import__("openpyxl").load_workbook(out, read_only=True).sheetnames
    assert list((project.root / "checkout").iterdir()) == []  # nothing in the folder it ran from


def test_dagster_definitions_validate_passes():
    done = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "ilms_dagster.definitions"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All code locations passed validation" in done.stdout + done.stderr


def test_main_command_populates_the_warehouse_from_the_bundled_samples(project):
    """`ilms run` (the README's main command) on an empty inbox: latest round, ten countries, every table."""
    import os

    from ilms_dagster.registry import REPORTING_COUNTRIES, ROUNDS, TABLES

    env = os.environ | {"DAGSTER_HOME": str(project.root / "dagster_home")}
    done = subprocess.run(
        [sys.executable, "-m", "ilms_dagster.cli", "run"], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"10 submissions from 10 countries (latest round {ROUNDS[-1]})" in done.stdout
    assert project.query("SELECT DISTINCT ref_area, round FROM raw.submissions ORDER BY 1") == sorted(
        (c, int(ROUNDS[-1])) for c in REPORTING_COUNTRIES
    )
    empty = [t for t in TABLES if project.query(f"SELECT count(*) FROM ilmq.{t}") == [(0,)]]
    assert empty == []
    assert (project.root / "dagster_home" / "dagster.yaml").exists()  # runs are recorded on the project instance
    overview = project.root / "publication" / ROUNDS[-1] / "index.html"  # the run ends by publishing the round
    assert f"Overview of round {ROUNDS[-1]}: {overview}" in done.stdout  # soft-wrapped: the path is whole
    assert overview.exists() and (overview.parent / "report.pdf").exists()


def test_run_reports_a_partition_blocked_by_validation_with_its_feedback(project, monkeypatch):
    """PHL 2020's sample carries a planted SEX_T error: the run says blocked (not crashed), names the failing
    checks and the focal point's feedback workbook, and exits non-zero."""
    monkeypatch.setenv("DAGSTER_HOME", str(project.root / "dagster_home"))
    result = runner.invoke(app, ["run", "--round", "2020", "--country", "PHL"])
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "PHL 2020: blocked by validation" in text and "outflow_by_destination: sex_total (1 error(s))" in text
    (report,) = (project.root / "feedback" / "2020").glob("PHL_feedback_*.xlsx")
    assert str(report) in result.output.replace("\n", "")


@pytest.mark.parametrize("command", [["template", "--country", "THA"], ["run"]])
@pytest.mark.parametrize("round_", ["2011", "2031", "26"])
def test_a_round_outside_the_collection_is_a_clear_error_not_a_traceback(project, command, round_):
    from ilms_dagster.registry import open_rounds

    result = runner.invoke(app, [*command, "--round", round_])
    assert result.exit_code == 2
    text = unboxed(result.output)
    assert f"'{round_}' is not a collection round: the rounds are {open_rounds()[0]}-{open_rounds()[-1]}" in text
    assert "Traceback" not in result.output and not project.warehouse_path.exists()


@pytest.mark.parametrize("code", ["XYZ1", "TH", "T-A"])
def test_a_country_that_is_no_iso3_code_is_a_clear_error(project, code):
    result = runner.invoke(app, ["template", "--country", code, "--round", "2024"])
    assert result.exit_code == 2 and "is not an ISO 3166-1 alpha-3 country code" in unboxed(result.output)


def unboxed(output: str) -> str:
    """The words of a CLI error, without the frame typer draws around it."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", output).split())


def test_the_summary_table_of_many_countries_has_a_row_per_country_with_its_values_per_family(monkeypatch, tmp_path):
    from rich.console import Console

    from ilms_dagster.cli.run import _values_table
    from ilms_dagster.registry import TABLES

    def rendered(countries: list[str]) -> str:
        counts = {("emp_by_age", c): 10 for c in countries} | {("outflow_by_destination", countries[0]): 5}
        console = Console(width=200, record=True)
        console.print(_values_table(counts, countries))
        return console.export_text()

    # the title names the warehouse: a long path (a deep checkout) wraps it, which must not matter
    monkeypatch.setenv("ILMS_WAREHOUSE", str(tmp_path / ("a-long-folder-name-" * 12) / "warehouse.duckdb"))
    few = rendered(["BRN", "KHM"])
    assert "values per ILMQ table and country" in " ".join(few.split()) and "emp_by_age" in few
    many = rendered([f"X{a}{b}" for a in "AB" for b in "ABCDEFGHI"])  # 18 countries
    assert "values per country and table family" in " ".join(many.split()) and "emp_by_age" not in many
    assert TABLES["emp_by_age"].family == "stock" and TABLES["outflow_by_destination"].family == "outflow"
    rows = {
        line.split("│")[1].strip(): [cell.strip() for cell in line.split("│")[2:-1]]
        for line in many.splitlines()
        if line.startswith("│")
    }
    assert len(rows) == 18
    assert rows["XAA"][:4] == [f"2 of {len(TABLES)}", "10", "", "5"]  # tables, stock, inflow, outflow
    assert rows["XBI"][:2] == [f"1 of {len(TABLES)}", "10"]
