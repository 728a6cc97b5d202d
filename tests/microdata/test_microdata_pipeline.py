"""Microdata through the normal path: the tabulated workbook passes intake (parse_workbook, expectation suites)
and the SQL rules; the Dagster asset writes it into the inbox for its partition and the ingest job accepts it;
`ilms microdata check` / `tabulate` on real files."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import yaml
from typer.testing import CliRunner

from ilms_dagster.assets.tabulations import microdata_workbook
from ilms_dagster.cli import app
from ilms_dagster.microdata import load_mapping, tabulate, write_outputs
from ilms_dagster.partitions import ensure_countries, submission_key
from ilms_dagster.questionnaire.workbook import parse_workbook
from tests.checks.test_checks import validate_workbook as validate  # stage, load and validate as the pipeline does
from tests.microdata.test_microdata import mapping_file, survey_frame, write
from tests.support.microdata_synth import mapping_spec, synthetic_lfs, write_survey

runner = CliRunner()


def test_the_hand_made_survey_gives_a_workbook_that_passes_intake_and_validation(project):
    path = write(survey_frame(), project.root / "THA_LFS_2023.dta")
    tab = tabulate(load_mapping(mapping_file(project.root)), path)
    workbook, sidecar, cells = write_outputs(
        [tab], "2024", project.inbox / "2024" / "THA_ILMQ_2024.xlsx", {"focal_point": "A. Tester"}
    )
    parsed = parse_workbook(workbook, "THA", "2024")
    assert parsed.metadata["source_stocks"] == "BA:Hand-made LFS"
    values = pd.concat(parsed.tables.values())
    suppressed = cells[cells.obs_status == "x"]
    assert len(values) == len(cells) and len(suppressed) > 0  # every cell, 'x' ones as confidential
    assert set(values.loc[values.obs_value.isna(), "note"]) == {"confidential", "not available"}
    by_cell = {(r.indicator, r.sex, r.classif1, r.classif2): r.obs_value for r in values.itertuples()}
    for r in cells[cells.obs_status != "x"].itertuples():
        got = by_cell[(r.indicator, r.sex, r.classif1, r.classif2)]
        assert (pd.isna(got) and pd.isna(r.estimate)) or got == r.obs_value
    validation = validate(project, workbook)
    assert validation.findings.empty, validation.findings.to_string()
    assert validation.verdict == "accepted"
    side = pd.read_csv(sidecar, keep_default_na=False)
    assert set(side.obs_status) == {"", "U", "x"} and {"n_obs", "se", "cv", "cell"} <= set(side.columns)


def test_a_synthetic_country_survey_over_two_years_passes_validation(project):
    mapping = project.root / "SGP_LFS.yaml"
    mapping.write_text(yaml.safe_dump(mapping_spec("SGP"), sort_keys=False))
    tabs = [
        tabulate(
            load_mapping(mapping), write_survey(synthetic_lfs("SGP", 15_000, seed=y), project.root / f"SGP_LFS_{y}.sav")
        )
        for y in (2022, 2023)
    ]
    workbook, _, cells = write_outputs(tabs, "2024", project.inbox / "2024" / "SGP_ILMQ_2024.xlsx")
    assert sorted(set(cells.time)) == [2022, 2023]
    validation = validate(project, workbook, country="SGP")
    assert validation.errors == 0, validation.findings.to_string()


def test_the_asset_writes_the_partition_workbook_into_the_inbox_and_ingest_accepts_it(project):
    mappings = project.root / "mappings"
    mappings.mkdir()
    (mappings / "THA_LFS.yaml").write_text(yaml.safe_dump(mapping_spec("THA"), sort_keys=False))
    write_survey(synthetic_lfs("THA", 20_000, seed=7), project.root / "microdata" / "2024" / "THA_LFS_2023.parquet")
    ensure_countries(project.instance)
    result = dg.materialize(
        [microdata_workbook],
        partition_key=submission_key("2024", "THA"),
        resources=project.resources,
        instance=project.instance,
        run_config={"ops": {"microdata_workbook": {"config": {"mappings_dir": str(mappings)}}}},
    )
    assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["cells"].value == 2280 and meta["unreliable_U"].value > 0
    workbook = project.inbox / "2024" / "THA_ILMQ_2024_microdata.xlsx"
    assert workbook.is_file() and workbook.with_suffix(".cells.csv").is_file()
    ingest = project.materialize("2024", "THA")  # the normal ingest job's assets, unchanged
    assert ingest.success
    checks = ingest.get_asset_check_evaluations()
    assert checks and all(e.passed for e in checks)
    (rows,) = project.query("SELECT count(*) FROM ilmq.emp_by_age WHERE ref_area = 'THA' AND round = 2024")
    assert rows[0] == 120


def test_the_asset_fails_naming_the_missing_survey_file(project):
    ensure_countries(project.instance)
    result = dg.materialize(
        [microdata_workbook],
        partition_key=submission_key("2024", "LAO"),
        resources=project.resources,
        instance=project.instance,
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "no survey file for LAO round 2024" in failure.step_failure_data.error.message


def test_cli_check_and_tabulate(tmp_path):
    path = write(survey_frame(), tmp_path / "THA_LFS_2023.csv")
    mapping = mapping_file(tmp_path)
    result = runner.invoke(app, ["microdata", "check", str(mapping), str(path)])
    assert result.exit_code == 0, result.output
    assert "every code mapped" in result.output and "14 stock tables" in result.output
    bad = write(survey_frame().assign(status=lambda f: f.status.replace(3, 7)), tmp_path / "THA_LFS_2022.csv")
    result = runner.invoke(app, ["microdata", "check", str(mapping), str(bad)], terminal_width=200)
    assert result.exit_code == 1
    assert "variable 'status' (labour_force_status)" in result.output and "7 (4 records)" in result.output
    out = tmp_path / "out" / "THA_ILMQ_2024.xlsx"
    result = runner.invoke(
        app, ["microdata", "tabulate", str(mapping), str(path), "--round", "2024", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert parse_workbook(out, "THA", "2024").tables["wap_by_age"]["obs_value"].notna().any()


def test_the_shipped_mapping_tabulates_the_synthetic_survey_as_the_readme_says(tmp_path):
    from ilms_dagster.microdata.files import default_mappings_dir

    path = write_survey(synthetic_lfs("THA", 5_000, seed=2), tmp_path / "2024" / "THA_SYNTH_2023.dta")
    tab = tabulate(load_mapping(default_mappings_dir() / "THA_SYNTH.yaml"), path)
    assert tab.year == 2023 and not tab.skipped and len(tab.tables) == 14
