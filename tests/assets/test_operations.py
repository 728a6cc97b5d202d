"""Operations on a real Dagster instance: growing partitions, the annual schedule, the inbox sensor over real
workbooks, the models' automation after a real ingestion run, and the `dagster` CLI listing them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from ilms_dagster.assets import MODEL_ASSETS, ilmq_tables, submission_file
from ilms_dagster.assets.operations import annual_round, inbox_sensor, ingest_job, models_automation_sensor
from ilms_dagster.definitions import build_defs
from ilms_dagster.intake.submissions import sha256_of
from ilms_dagster.orchestration.instance import ensure_dagster_home
from ilms_dagster.partitions import (
    BACKFILL_POLICY,
    ensure_countries,
    partition_rounds_countries,
    round_partitions,
    submission_key,
    submission_partitions,
)
from ilms_dagster.questionnaire.samples import write_sample
from ilms_dagster.questionnaire.template import write_workbook
from ilms_dagster.registry import REPORTING_COUNTRIES, ROUNDS, deadline

NEPAL_VALUE = ("outflow_by_destination", 2023, "CDS_DES_TOTAL", "SEX_T", None)


@pytest.fixture
def instance():
    """A real, persistent (temporary) Dagster instance, as the daemon evaluates sensors against."""
    with dg.instance_for_test() as instance:
        yield instance


def tick(instance, project, cursor=None):
    """One evaluation of the inbox sensor, as the daemon runs it, with the project's folders."""
    context = dg.build_sensor_context(
        instance=instance,
        instance_ref=instance.get_ref(),
        cursor=cursor,
        definitions=build_defs(project.resources),
        resources=project.resources,
    )
    return inbox_sensor.evaluate_tick(context)


def apply_partition_requests(instance, result) -> None:
    """What the daemon does with a tick's dynamic partition requests before launching its runs."""
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)


# -- partitions -----------------------------------------------------------------------------------------------


def test_a_new_round_appears_each_year_without_a_code_change():
    at = lambda *args: round_partitions.get_partition_keys(current_time=datetime(*args, tzinfo=UTC))  # noqa: E731
    assert at(2024, 12, 31, 23, 59)[0] == "2015" and at(2024, 12, 31, 23, 59)[-1] == "2024"
    assert at(2025, 1, 1, 0, 0)[-1] == "2025"  # the round exists during its collection year
    assert at(2031, 6, 1)[-1] == "2031"
    assert set(ROUNDS) <= set(at(2025, 1, 1))  # the sample rounds are partitions


def test_any_iso3_country_becomes_a_partition_and_keys_keep_their_form(instance):
    assert ensure_countries(instance) == REPORTING_COUNTRIES
    assert ensure_countries(instance, ["THA", "NPL"]) == [*REPORTING_COUNTRIES, "NPL"]  # idempotent, grows
    assert ensure_countries(instance) == [*REPORTING_COUNTRIES, "NPL"]
    assert instance.get_dynamic_partitions("country") == [*REPORTING_COUNTRIES, "NPL"]
    key = submission_key("2024", "NPL")
    assert str(key) == "NPL|2024" and key.keys_by_dimension == {"round": "2024", "country": "NPL"}
    keys = submission_partitions.get_partition_keys(dynamic_partitions_store=instance)
    assert key in keys and submission_key("2024", "FRA") not in keys


def test_partition_rounds_countries_reads_a_backfill_key_range_by_dimension(instance):
    """A backfill run over a range gets every country between the ends (in the order they were added) for
    every round between them."""
    ensure_countries(instance, ["NPL"])
    seen = []

    @dg.asset(partitions_def=submission_partitions, backfill_policy=BACKFILL_POLICY)
    def probe(context):
        seen.extend(partition_rounds_countries(context))
        return dg.MaterializeResult()

    result = dg.materialize(
        [probe],
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": str(submission_key("2023", "VNM")),
            "dagster/asset_partition_range_end": str(submission_key("2024", "NPL")),
        },
    )
    assert result.success
    assert seen == [("2023", "NPL"), ("2023", "VNM"), ("2024", "NPL"), ("2024", "VNM")]


def test_a_range_run_of_the_real_assets_loads_every_partition_in_it(project, instance):
    ensure_countries(instance)
    job = build_defs(project.resources).resolve_job_def("ingest_submissions")
    result = job.execute_in_process(
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": str(submission_key("2024", "BRN")),
            "dagster/asset_partition_range_end": str(submission_key("2024", "IDN")),
        },
    )
    assert result.success  # countries in the order they were added (the registry's: BRN, KHM, IDN, ...)
    assert project.query("SELECT ref_area, round FROM raw.submissions ORDER BY 1") == [
        ("BRN", 2024),
        ("IDN", 2024),
        ("KHM", 2024),
    ]


def test_both_ingestion_assets_share_one_multi_run_backfill_policy():
    assert submission_file.backfill_policy == ilmq_tables.backfill_policy == BACKFILL_POLICY
    assert BACKFILL_POLICY.max_partitions_per_run == 10


# -- annual schedule ------------------------------------------------------------------------------------------


def scheduled(instance, project, when: datetime) -> list[dg.RunRequest]:
    """One tick of the annual schedule at `when`, as the daemon evaluates it."""
    context = dg.build_schedule_context(
        instance=instance,
        instance_ref=instance.get_ref(),
        scheduled_execution_time=when,
        repository_def=build_defs(project.resources).get_repository_def(),
    )
    return annual_round.evaluate_tick(context).run_requests


def test_annual_schedule_opens_the_current_round_for_every_known_country(project, instance):
    assert annual_round.execution_timezone == "UTC"
    assert annual_round.cron_schedule == "0 12 1 10 *"  # 12:00 UTC the day after the deadline
    assert deadline(2025) + timedelta(days=1) == datetime(2025, 10, 1).date()
    ensure_countries(instance, ["NPL"])  # grown by the inbox sensor

    requests = scheduled(instance, project, datetime(2025, 10, 1, 12, 0, tzinfo=UTC))
    assert [r.partition_key for r in requests] == [f"{c}|2025" for c in [*REPORTING_COUNTRIES, "NPL"]]
    assert {r.tags["ilms/round"] for r in requests} == {"2025"}
    assert len({r.run_key for r in requests}) == len(requests)
    valid = submission_partitions.get_partition_keys(
        current_time=datetime(2025, 10, 1, 12, tzinfo=UTC), dynamic_partitions_store=instance
    )
    assert {r.partition_key for r in requests} <= set(valid)


def test_annual_schedule_seeds_the_reporting_countries_on_a_fresh_instance(project, instance):
    requests = scheduled(instance, project, datetime(2026, 10, 1, 12, 0, tzinfo=UTC))
    assert [r.partition_key for r in requests] == [f"{c}|2026" for c in REPORTING_COUNTRIES]
    assert instance.get_dynamic_partitions("country") == REPORTING_COUNTRIES


@pytest.mark.parametrize(
    "when, round_",
    [
        (datetime(2026, 1, 1, 1, 0, tzinfo=ZoneInfo("Asia/Bangkok")), "2025"),  # still 31 Dec 2025 in UTC
        (datetime(2025, 12, 31, 20, 0, tzinfo=ZoneInfo("America/New_York")), "2026"),  # already 1 Jan 2026 in UTC
    ],
)
def test_annual_schedule_takes_the_round_from_its_own_timezone_around_new_year(project, instance, when, round_):
    requests = scheduled(instance, project, when)
    assert {r.tags["ilms/round"] for r in requests} == {round_}
    valid = submission_partitions.get_partition_keys(current_time=when, dynamic_partitions_store=instance)
    assert {r.partition_key for r in requests} <= set(valid)  # the requested round exists at that moment


# -- inbox sensor ---------------------------------------------------------------------------------------------


@pytest.fixture
def inbox(project):
    """THA's 2024 sample, a workbook from Nepal (beyond the ten: global collection) and three misfiled files."""
    tha = write_sample(project.inbox, "THA", "2024")
    write_workbook(project.inbox / "2024" / "NPL_ILMQ_2024.xlsx", "NPL", "2024", values={NEPAL_VALUE: 250.5})
    (project.inbox / "1999").mkdir()
    for misfiled in ["2024/Thailand.xlsx", "1999/THA.xlsx", "THA_2024.xlsx"]:
        shutil.copyfile(tha, project.inbox / misfiled)
    (project.inbox / "2024" / "~$NPL_ILMQ_2024.xlsx").write_bytes(b"Excel lock file")
    return project.inbox


def test_first_tick_requests_each_new_submission_and_adds_new_countries(project, instance, inbox):
    result = tick(instance, project)
    sha = {c: sha256_of(inbox / "2024" / f"{c}_ILMQ_2024.xlsx") for c in ("NPL", "THA")}
    assert [(r.partition_key, r.run_key) for r in result.run_requests] == [
        ("NPL|2024", f"2024|NPL|{sha['NPL'][:12]}"),
        ("THA|2024", f"2024|THA|{sha['THA'][:12]}"),
    ]
    assert all(r.job_name in (None, "ingest_submissions") for r in result.run_requests)
    assert result.run_requests[0].tags["ilms/sha256"] == sha["NPL"]
    assert [(r.partitions_def_name, r.partition_keys) for r in result.dynamic_partitions_requests] == [
        ("country", [*REPORTING_COUNTRIES, "NPL"])
    ]
    assert json.loads(result.cursor) == {"2024|NPL": sha["NPL"], "2024|THA": sha["THA"]}


def test_the_same_files_seen_again_request_nothing_and_misfiled_ones_are_named(project, instance, inbox):
    first = tick(instance, project)
    apply_partition_requests(instance, first)
    shutil.copy2(inbox / "2024" / "NPL_ILMQ_2024.xlsx", inbox / "2024" / "NPL_copy.xlsx")  # same bytes, newer
    second = tick(instance, project, first.cursor)
    assert second.run_requests == [] and not second.dynamic_partitions_requests
    assert second.cursor == first.cursor  # unchanged
    assert "2 submission(s)" in second.skip_message and "none new or changed" in second.skip_message
    for reason in [
        "'2024/Thailand.xlsx': the name does not start with an ISO3 country code",
        "'1999/THA.xlsx': '1999' is not a collection round (2015..",
        "'THA_2024.xlsx': not in a round folder",
    ]:
        assert reason in second.skip_message
    assert "~$" not in second.skip_message


def test_a_changed_submission_requests_exactly_its_partition_again(project, instance, inbox):
    first = tick(instance, project)
    apply_partition_requests(instance, first)
    revised = write_workbook(inbox / "2024" / "NPL_ILMQ_2024_rev1.xlsx", "NPL", "2024", values={NEPAL_VALUE: 251.0})
    os.utime(revised, ns=(revised.stat().st_mtime_ns + 10**9,) * 2)  # the newest file of the partition counts
    result = tick(instance, project, first.cursor)
    sha = sha256_of(revised)
    assert [(r.partition_key, r.run_key, r.tags["ilms/file"]) for r in result.run_requests] == [
        ("NPL|2024", f"2024|NPL|{sha[:12]}", "NPL_ILMQ_2024_rev1.xlsx")
    ]
    assert not result.dynamic_partitions_requests
    assert json.loads(result.cursor)["2024|NPL"] == sha
    assert tick(instance, project, result.cursor).run_requests == []


def test_an_empty_inbox_only_seeds_the_reporting_countries_then_skips(project, instance):
    first = tick(instance, project)
    assert first.run_requests == []
    assert [r.partition_keys for r in first.dynamic_partitions_requests] == [REPORTING_COUNTRIES]
    apply_partition_requests(instance, first)
    second = tick(instance, project, first.cursor)
    assert second.run_requests == [] and second.skip_message.startswith("0 submission(s)")


def test_a_run_requested_by_the_sensor_lands_the_submission_in_duckdb(project, instance, inbox):
    result = tick(instance, project)
    apply_partition_requests(instance, result)
    request = next(r for r in result.run_requests if r.partition_key == "NPL|2024")
    assert inbox_sensor.job_name == ingest_job.name
    job = build_defs(project.resources).resolve_job_def(ingest_job.name)
    run = job.execute_in_process(partition_key=request.partition_key, tags=request.tags, instance=instance)
    assert run.success
    assert project.query(
        "SELECT sha256, original_name FROM raw.submissions WHERE ref_area = 'NPL' AND round = 2024"
    ) == [(request.tags["ilms/sha256"], "NPL_ILMQ_2024.xlsx")]
    assert project.query("SELECT obs_value FROM ilmq.outflow_by_destination WHERE ref_area = 'NPL'") == [(250.5,)]
    materialization = instance.get_latest_materialization_event(dg.AssetKey(["ilmq", "outflow_by_destination"]))
    metadata = materialization.asset_materialization.metadata
    assert metadata["dagster/row_count"].value == 1 and metadata["completeness_pct"].value > 0
    assert "NPL 2024" in metadata["preview"].value


# -- models after new data ------------------------------------------------------------------------------------


def test_models_are_requested_once_after_new_data_lands(project, instance):
    ensure_countries(instance)
    defs = build_defs(project.resources)
    models = {k for a in MODEL_ASSETS for k in a.keys}
    assert models_automation_sensor.asset_selection.resolve([submission_file, ilmq_tables, *MODEL_ASSETS]) == models
    graph = defs.resolve_asset_graph()
    automated = {k for k in graph.get_all_asset_keys() if graph.get(k).automation_condition is not None}
    assert models <= automated  # the models, and what follows them (the status matrix) under the same condition
    requested = lambda result: {key for key in automated if result.get_num_requested(key)}  # noqa: E731
    ingest = defs.resolve_job_def("ingest_submissions")

    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert first.total_requested == 0  # nothing new: nothing to rebuild
    assert ingest.execute_in_process(partition_key=submission_key("2024", "THA"), instance=instance).success
    after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert requested(after) == automated and after.total_requested == len(automated)  # all models, in one go
    again = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=after.cursor)
    assert again.total_requested == 0  # handled: the same data does not ask twice
    assert ingest.execute_in_process(partition_key=submission_key("2024", "VNM"), instance=instance).success
    more = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=again.cursor)
    assert requested(more) == automated


# -- the dagster CLI ------------------------------------------------------------------------------------------


def test_dagster_cli_lists_the_schedule_and_the_sensors(project, monkeypatch):
    """On the project's instance as `ilms` prepares it (shipped dagster.yaml, reporting countries seeded)."""
    monkeypatch.setenv("DAGSTER_HOME", str(project.root / "dagster_home"))
    ensure_dagster_home()
    with dg.DagsterInstance.get() as instance:
        assert instance.get_dynamic_partitions("country") == REPORTING_COUNTRIES
    env = dict(os.environ)
    commands = {
        kind: subprocess.Popen(
            [sys.executable, "-m", "dagster", kind, "list", "-m", "ilms_dagster.definitions"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for kind in ("schedule", "sensor")
    }
    out = {kind: process.communicate(timeout=300)[0] for kind, process in commands.items()}
    assert "Schedule: annual_round [RUNNING]" in out["schedule"], out["schedule"]
    assert "Cron Schedule: 0 12 1 10 *" in out["schedule"]
    assert "Sensor: inbox_sensor [RUNNING]" in out["sensor"], out["sensor"]
    assert "Sensor: models_after_new_data [RUNNING]" in out["sensor"]
