"""Validation in the pipeline: the sample submissions' deliberate mistakes, and a blocked partition in real
Dagster runs (checks per partition with their metadata, quarantine from the models, the corrected resubmission)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import openpyxl
import pytest

from ilms_dagster.assets import ilmq_tables, submission_file
from ilms_dagster.assets.ilmq import SUBMISSION_CHECK, TABLE_CHECK, table_key
from ilms_dagster.assets.sql_models import MODEL_ASSETS
from ilms_dagster.checks import RULES, run_expectations, validate_submission
from ilms_dagster.checks.findings import label_codes
from ilms_dagster.intake.submissions import archive, find_submission, stage
from ilms_dagster.partitions import submission_key, submission_partitions
from ilms_dagster.questionnaire.sample_mistakes import DELIBERATE_MISTAKES, Mistake
from ilms_dagster.questionnaire.samples import sample_values
from ilms_dagster.questionnaire.template import write_workbook
from ilms_dagster.questionnaire.workbook import SheetLayout
from ilms_dagster.registry import TABLES, reference_years
from ilms_dagster.resources.warehouse import ensure_schema


def mistake_cell(m: Mistake) -> str:
    return SheetLayout(TABLES[m.table], tuple(reference_years(m.round)), m.country).cell_ref(
        m.year, m.classif1, m.sex, m.classif2
    )


@pytest.mark.parametrize("mistake", DELIBERATE_MISTAKES, ids=lambda m: f"{m.country}{m.round}-{m.rule}")
def test_each_deliberate_mistake_is_found_at_its_cell(project, mistake):
    storage = project.resources["storage"]
    received = archive(storage, find_submission(storage, mistake.round, mistake.country))
    staged = stage(storage, mistake.round, mistake.country, received, expectations=run_expectations)
    with duckdb.connect(str(project.warehouse_path)) as conn:
        ensure_schema(conn)
        validation = validate_submission(conn, staged)
    hits = validation.findings[
        (validation.findings.rule == mistake.rule) & (validation.findings.table_id == mistake.table)
    ]
    cell = mistake_cell(mistake)
    # the cell itself, or (for a sum) the total whose message names the altered part's cell
    assert any(cell == f.cell or f"({cell})" in f.message for f in hits.itertuples()), (cell, hits.to_string())
    rule = RULES.get(mistake.rule, RULES["expectations"])
    assert set(hits.severity) == {"error" if rule.blocking else "warning"}
    if rule.blocking:
        assert validation.errors > 0


def test_a_blocking_error_quarantines_the_partition_until_a_corrected_submission_passes(project):
    mistake = next(m for m in DELIBERATE_MISTAKES if m.rule == "sex_total")
    round_, country, cell = mistake.round, mistake.country, mistake_cell(mistake)
    key = str(submission_key(round_, country))
    models = {"warehouse": project.resources["warehouse"]}

    bad = project.materialize(
        round_, country, selection=[submission_file, ilmq_tables, *MODEL_ASSETS], raise_on_error=False
    )
    assert not bad.success
    status = project.instance.get_status_by_partition(table_key(mistake.table), [key], submission_partitions)
    assert status[key].value == "FAILED"  # as the asset's Partitions tab shows it: failed, not missing
    assert bad.get_asset_materialization_events()  # the tables were loaded, for inspection ...
    assert not [e for e in bad.get_asset_materialization_events() if e.asset_key.path[0] in ("staging", "marts")]
    checks = {(e.asset_key.path[-1], e.check_name): e for e in bad.get_asset_check_evaluations()}
    assert len(checks) == len(TABLES) + 1  # one per table, one for the whole submission: 3 events each, not 154
    failed = checks[(mistake.table, TABLE_CHECK)]
    assert (failed.passed, failed.severity, failed.partition) == (False, dg.AssetCheckSeverity.ERROR, key)
    errors_in = dict(
        project.query("SELECT table_id, count(*) FROM validation.findings WHERE severity = 'error' GROUP BY 1")
    )
    assert (
        failed.metadata["errors"].value == errors_in[mistake.table]
        and f"| {cell} " in failed.metadata["findings"].value
    )
    rules = failed.metadata["rules"].value  # every rule of the table, the failing ones with their counts
    assert (
        "| sex_total | yes | failed | 1 | 0 | 0 |" in rules and "| expectations | yes | passed | 0 | 0 | 0 |" in rules
    )
    assert rules.count("\n") - 1 == sum(rule.applies(TABLES[mistake.table]) for rule in RULES.values())
    verdict = checks[("submissions", SUBMISSION_CHECK)]
    assert (verdict.passed, verdict.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert verdict.metadata["errors"].value == sum(errors_in.values())
    assert all(e.passed == (table not in errors_in) for (table, _), e in checks.items() if table != "submissions")
    assert all(e.partition == key for e in checks.values())

    report = Path(failed.metadata["feedback_report"].value)
    rows = list(openpyxl.load_workbook(report)["Findings"].iter_rows(min_row=2, values_only=True))
    stored = project.query("SELECT severity, sheet, cell, rule, message FROM validation.findings")
    assert sorted((r[0], r[2], r[3], r[4]) for r in rows) == sorted(s[:4] for s in stored)
    assert ("error", f"{TABLES[mistake.table].title} ({mistake.table})", mistake.table, cell) in [r[:4] for r in rows]
    assert all(r[8] == RULES[r[4]].fix for r in rows)  # a suggested fix per finding
    assert all(label_codes(m) in [r[7] for r in rows] for *_, m in stored)  # codes with their labels
    assert openpyxl.load_workbook(report)["Summary"]["B7"].value.startswith("blocked")

    dg.materialize(MODEL_ASSETS, resources=models)  # ... but quarantined: nothing of it reaches the models
    assert project.query("SELECT count(*) FROM staging.accepted_partitions") == [(0,)]
    blocked = sorted(errors_in)  # the tables with an error stay out; the submission's other tables feed the marts
    assert (
        project.query("SELECT DISTINCT table_id FROM staging.ilmq_accepted WHERE list_contains(?, table_id)", [blocked])
        == []
    )
    assert project.query("SELECT count(DISTINCT table_id) > 0 FROM staging.ilmq_accepted") == [(True,)]

    values, metadata = sample_values(country, round_)  # the focal point corrects the cell and resubmits
    total = (mistake.table, mistake.year, mistake.classif1, "SEX_T", mistake.classif2)
    values[total] = round(values[total[:3] + ("SEX_M", None)] + values[total[:3] + ("SEX_F", None)], 3)
    write_workbook(
        project.inbox / round_ / f"{country}_ILMQ_{round_}_corrected.xlsx", country, round_, values, metadata
    )
    good = project.materialize(round_, country)
    assert good.success
    assert all(e.passed or e.severity == dg.AssetCheckSeverity.WARN for e in good.get_asset_check_evaluations())

    dg.materialize(MODEL_ASSETS, resources=models)
    (sha,) = project.query("SELECT submission_sha256 FROM staging.accepted_partitions")[0]
    assert project.query("SELECT round, ref_area, errors FROM staging.accepted_partitions") == [
        (int(round_), country, 0)
    ]
    assert project.query("SELECT count(DISTINCT submission_sha256) FROM staging.ilmq_accepted") == [(1,)]
    assert project.query("SELECT DISTINCT submission_sha256 FROM staging.ilmq_accepted") == [(sha,)]
    # the first submission's findings stay, for the quality history; the latest verdict decides
    assert project.query(
        "SELECT errors > 0, submission_sha256 = ? FROM validation.partition_status ORDER BY checked_at", [sha]
    ) == [(True, False), (False, True)]
    assert project.query(
        "SELECT count(DISTINCT submission_sha256) FROM validation.findings WHERE severity = 'error'"
    ) == [(1,)]


def test_a_single_run_backfill_reports_every_check_for_every_partition_of_its_range(project):
    from ilms_dagster.partitions import submission_partitions

    job = dg.define_asset_job(
        "backfill", selection=[submission_file, ilmq_tables], partitions_def=submission_partitions
    )
    defs = dg.Definitions(assets=[submission_file, ilmq_tables], jobs=[job], resources=project.resources)
    first, last = "BRN|2023", "BRN|2024"  # one key range, as a single-run backfill hands it to the step
    result = defs.resolve_job_def("backfill").execute_in_process(
        instance=project.instance,
        tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
    )
    per_partition = {}
    for e in result.get_asset_check_evaluations():
        per_partition.setdefault(e.partition, set()).add((e.asset_key.path[-1], e.check_name))
    expected = {(t.id, TABLE_CHECK) for t in TABLES.values()} | {("submissions", SUBMISSION_CHECK)}
    assert per_partition == {first: expected, last: expected}
    assert project.query("SELECT round, ref_area, errors FROM validation.partition_status ORDER BY round") == [
        (2023, "BRN", 0),
        (2024, "BRN", 0),
    ]


def test_a_reviewer_accepts_a_known_source_inconsistency_and_it_stays_accepted_on_reload(project):
    from typer.testing import CliRunner

    from ilms_dagster.cli import app

    mistake = next(m for m in DELIBERATE_MISTAKES if m.rule == "sex_total")
    round_, country, cell = mistake.round, mistake.country, mistake_cell(mistake)
    models = {"warehouse": project.resources["warehouse"]}
    assert not project.materialize(round_, country, raise_on_error=False).success
    errors = project.query("SELECT table_id, rule, cell FROM validation.findings WHERE severity = 'error' ORDER BY ALL")
    runner = CliRunner()

    wrong = runner.invoke(
        app,
        [
            "review",
            "accept",
            "--round",
            round_,
            "--country",
            country,
            "--table",
            mistake.table,
            "--rule",
            "sex_total",
            "--cell",
            "ZZ99",
            "--reason",
            "published so",
        ],
    )
    assert wrong.exit_code == 1 and "no open error of rule 'sex_total'" in wrong.output and cell in wrong.output
    for table, rule, at in errors:  # every error of the submission: a source the statistician knows
        done = runner.invoke(
            app,
            [
                "review",
                "accept",
                "--round",
                round_,
                "--country",
                country,
                "--table",
                table,
                "--rule",
                rule,
                "--cell",
                at,
                "--reason",
                "as published by the source",
                "--by",
                "QA",
            ],
        )
        assert done.exit_code == 0, done.output
    assert "no open error: the partition is accepted" in done.output
    dg.materialize(MODEL_ASSETS, resources=models)
    assert project.query("SELECT round, ref_area FROM staging.accepted_partitions") == [(int(round_), country)]
    assert project.query("SELECT count(*) FROM validation.reviews") == [(len(errors),)]

    again = project.materialize(round_, country)  # the same workbook reloaded: the reviews still apply
    assert again.success
    verdict = next(e for e in again.get_asset_check_evaluations() if e.check_name == SUBMISSION_CHECK)
    assert verdict.passed or verdict.severity == dg.AssetCheckSeverity.WARN
    assert f"{len(errors)} error(s) accepted on review" in verdict.description
    listed = runner.invoke(app, ["review", "list", "--round", round_, "--country", country])
    assert "0 open error(s)" in listed.output and f"{len(errors)} review(s)" in listed.output and "QA" in listed.output


def _check_statuses(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, check_name: str
) -> dict[str, tuple[str, bool]]:
    """{partition: (latest execution status, whether it targets the partition's latest materialization)}: what
    the UI's partition view of a check is built from (it shows no status where the second is False)."""
    infos = instance.event_log_storage.get_asset_check_partition_info([dg.AssetCheckKey(asset_key, check_name)])
    return {i.partition_key: (i.latest_execution_status.value, i.is_current) for i in infos}


def test_every_partitions_check_status_targets_its_latest_materialization_passed_blocked_or_blocked_after_a_clean_load(
    project,
):
    from ilms_dagster.assets.ilmq import SUBMISSIONS_KEY, table_key
    from ilms_dagster.definitions import build_defs
    from ilms_dagster.orchestration.round_run import run_round
    from ilms_dagster.questionnaire.samples import write_sample

    mistake = next(m for m in DELIBERATE_MISTAKES if m.rule == "sex_total")  # a blocking error in PHL 2020
    round_, country, other = mistake.round, mistake.country, "MMR"
    values, metadata = sample_values(country, round_)  # first a clean PHL workbook (the cell corrected) ...
    total = (mistake.table, mistake.year, mistake.classif1, "SEX_T", mistake.classif2)
    values[total] = round(values[total[:3] + ("SEX_M", None)] + values[total[:3] + ("SEX_F", None)], 3)
    write_workbook(project.inbox / round_ / f"{country}_ILMQ_{round_}_first.xlsx", country, round_, values, metadata)
    write_sample(project.inbox, other, round_)
    job = build_defs(project.resources).resolve_job_def("ingest_submissions")
    assert [o.status for o in run_round(job, project.instance, round_, [other, country])] == ["ok", "ok"]
    write_sample(project.inbox, country, round_)  # ... then the sample with its mistake, the newer file
    assert [o.status for o in run_round(job, project.instance, round_, [other, country])] == ["ok", "blocked"]

    ok, bad = str(submission_key(round_, other)), str(submission_key(round_, country))
    submission = _check_statuses(project.instance, SUBMISSIONS_KEY, SUBMISSION_CHECK)
    assert submission == {ok: ("SUCCEEDED", True), bad: ("FAILED", True)}  # bad: against its first load
    assert _check_statuses(project.instance, table_key(mistake.table), TABLE_CHECK) == submission
    clean_table = next(t for t in TABLES if t != mistake.table and t not in {m.table for m in DELIBERATE_MISTAKES})
    assert _check_statuses(project.instance, table_key(clean_table), TABLE_CHECK) == {
        ok: ("SUCCEEDED", True),
        bad: ("SUCCEEDED", True),
    }
