"""`ilms run`'s way through Dagster: a round in one run per contiguous range of countries, a rejected workbook
named while the others of its range are still ingested, a blocked one failed where Dagster shows partitions."""

from __future__ import annotations

import dagster as dg

from ilms_dagster.definitions import build_defs
from ilms_dagster.orchestration.round_run import contiguous, run_round
from ilms_dagster.partitions import submission_key
from ilms_dagster.questionnaire.samples import ensure_samples


def test_countries_group_into_ranges_of_neighbours_in_partition_order():
    order = ["BRN", "KHM", "IDN", "LAO", "MYS", "MMR", "PHL", "SGP", "THA", "VNM"]
    assert contiguous(["PHL", "VNM", "SGP", "BRN", "KHM", "PHL"], order) == [["BRN", "KHM"], ["PHL", "SGP"], ["VNM"]]
    assert contiguous(order, order) == [order]


def test_a_round_in_one_run_rejects_a_bad_workbook_by_name_and_ingests_the_others(project):
    round_, countries = "2024", ["BRN", "KHM", "IDN"]
    for path in ensure_samples(project.inbox, rounds=[round_], countries=countries):
        if path.name.startswith("KHM"):
            path.write_bytes(b"not a workbook")  # a focal point's broken upload
    job = build_defs(project.resources).resolve_job_def("ingest_submissions")
    outcomes = run_round(job, project.instance, round_, countries)

    assert [(o.country, o.status) for o in outcomes] == [("BRN", "ok"), ("KHM", "rejected"), ("IDN", "ok")]
    rejected = outcomes[1]
    assert "KHM_ILMQ_2024.xlsx" in rejected.message and "is not an .xlsx workbook" in rejected.message
    assert project.query("SELECT ref_area FROM raw.submissions ORDER BY ref_area") == [("BRN",), ("IDN",)]

    runs = project.instance.get_runs()  # the range BRN..IDN failed on KHM, then BRN and IDN ran alone
    assert sorted(r.status.value for r in runs) == ["FAILURE", "SUCCESS", "SUCCESS"]
    ok_runs = [r for r in runs if r.status == dg.DagsterRunStatus.SUCCESS]
    assert {r.tags["dagster/asset_partition_range_start"] for r in ok_runs} == {"BRN|2024", "IDN|2024"}


def test_a_run_over_a_range_plans_each_partition_and_checks_each_table(project):
    """A range run records one planned materialization per asset and partition (what lets Dagster show the
    partitions of a failed run as failed) and one check evaluation per table and partition."""
    round_, countries = "2024", ["BRN", "KHM", "IDN", "LAO"]
    ensure_samples(project.inbox, rounds=[round_], countries=countries)
    job = build_defs(project.resources).resolve_job_def("ingest_submissions")
    assert {o.status for o in run_round(job, project.instance, round_, countries)} == {"ok"}
    (run,) = project.instance.get_runs()
    events = [e.dagster_event for e in project.instance.all_logs(run.run_id) if e.dagster_event]
    kinds = [e.event_type for e in events]
    planned = [e for e in events if e.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED]
    assert {e.partition for e in planned} == {str(submission_key(round_, c)) for c in countries}
    assert len(planned) == kinds.count(dg.DagsterEventType.ASSET_MATERIALIZATION) == len(countries) * 26
    assert kinds.count(dg.DagsterEventType.ASSET_CHECK_EVALUATION) == len(countries) * 25


def test_on_the_shipped_instance_a_range_run_records_every_partition(project, monkeypatch):
    """The shipped dagster.yaml: Dagster's instance with the workarounds, its SQLite run storage and consolidated
    event log on pooled connections in DAGSTER_HOME/history; every partition of a range run is recorded, the
    asset's latest materialization is the last one stored, and the UI's partition status sees them all."""
    from ilms_dagster.assets.ilmq import table_key
    from ilms_dagster.orchestration.dagster_workarounds import WorkaroundInstance
    from ilms_dagster.orchestration.instance import open_instance
    from ilms_dagster.orchestration.sqlite_connections import PooledSqliteEventLogStorage, PooledSqliteRunStorage

    monkeypatch.setenv("DAGSTER_HOME", str(project.root / "dagster_home"))
    round_, countries = "2024", ["BRN", "KHM", "IDN"]
    ensure_samples(project.inbox, rounds=[round_], countries=countries)
    job = build_defs(project.resources).resolve_job_def("ingest_submissions")
    with open_instance() as instance:
        assert type(instance) is WorkaroundInstance
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        assert isinstance(instance.run_storage, PooledSqliteRunStorage)
        history = project.root / "dagster_home" / "history"
        assert (history / "runs.db").exists() and (history / "event_log.db").exists()
        assert {o.status for o in run_round(job, instance, round_, countries)} == {"ok"}
        keys = [str(submission_key(round_, c)) for c in countries]
        for key in job.asset_layer.asset_graph.get_all_asset_keys():  # what the job's Partitions page merges
            assert sorted(instance.get_materialized_partitions(key)) == sorted(keys), key
        for key in (table_key("emp_by_age"), table_key("outflow_by_destination")):
            records = instance.fetch_materializations(key, limit=10).records
            assert sorted(r.partition_key for r in records) == sorted(keys)
            newest = max(records, key=lambda r: r.storage_id)  # the last one the event log stored
            assert instance.get_latest_materialization_event(key).dagster_event.partition == newest.partition_key


def test_a_blocked_partition_of_a_range_run_is_failed_for_its_asset_and_its_check(project, monkeypatch):
    """PHL 2020 holds a blocking mistake in one table: after `run_round` over MMR and PHL on the shipped instance,
    that table's partition PHL|2020 is FAILED (as the asset's Partitions tab shows it), MMR|2020 MATERIALIZED; every
    other table has both materialized; the table's check reads FAILED for PHL and SUCCEEDED for MMR, both current."""
    from ilms_dagster.assets.ilmq import SUBMISSIONS_KEY, TABLE_CHECK, table_key
    from ilms_dagster.orchestration.instance import open_instance
    from ilms_dagster.partitions import submission_partitions
    from ilms_dagster.questionnaire.samples import DELIBERATE_MISTAKES

    mistake = next(m for m in DELIBERATE_MISTAKES if (m.round, m.country) == ("2020", "PHL") and m.rule == "sex_total")
    monkeypatch.setenv("DAGSTER_HOME", str(project.root / "dagster_home"))
    ensure_samples(project.inbox, rounds=["2020"], countries=["MMR", "PHL"])
    job = build_defs(project.resources).resolve_job_def("ingest_submissions")
    mmr, phl = str(submission_key("2020", "MMR")), str(submission_key("2020", "PHL"))
    with open_instance() as instance:
        assert [o.status for o in run_round(job, instance, "2020", ["MMR", "PHL"])] == ["ok", "blocked"]
        blocked = {table_key(mistake.table), SUBMISSIONS_KEY}
        for key in job.asset_layer.asset_graph.get_all_asset_keys():
            if key.path[0] != "ilmq" and key != SUBMISSIONS_KEY:
                continue
            status = instance.get_status_by_partition(key, [mmr, phl], submission_partitions)
            expected = "FAILED" if key in blocked else "MATERIALIZED"
            assert {k: v.value for k, v in status.items()} == {mmr: "MATERIALIZED", phl: expected}, key
        info = {
            i.partition_key: (i.latest_execution_status.value, i.is_current)
            for i in instance.event_log_storage.get_asset_check_partition_info(
                [dg.AssetCheckKey(table_key(mistake.table), TABLE_CHECK)]
            )
        }
        assert info == {mmr: ("SUCCEEDED", True), phl: ("FAILED", True)}


def test_check_evaluations_target_the_latest_materialization_as_dagsters_records_give_it(project, monkeypatch):
    """Each evaluation of a range run names its partition's latest materialization
    (`dagster_workarounds.range_check_evaluations`), after a second run too."""
    from ilms_dagster.orchestration.instance import open_instance

    monkeypatch.setenv("DAGSTER_HOME", str(project.root / "dagster_home"))
    round_, countries = "2024", ["BRN", "KHM"]
    ensure_samples(project.inbox, rounds=[round_], countries=countries)
    job = build_defs(project.resources).resolve_job_def("ingest_submissions")
    with open_instance() as instance:
        for _ in range(2):
            assert {o.status for o in run_round(job, instance, round_, countries)} == {"ok"}
        last_run = max(instance.get_runs(), key=lambda r: instance.get_run_record_by_id(r.run_id).create_timestamp)
        evaluations = [
            e.dagster_event.event_specific_data
            for e in instance.all_logs(last_run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        ]
        assert len(evaluations) == 2 * 25
        for e in evaluations:
            (latest,) = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=e.asset_key, asset_partitions=[e.partition]), limit=1
            ).records
            target = e.target_materialization_data
            assert (target.storage_id, target.run_id, target.timestamp) == (
                latest.storage_id,
                latest.run_id,
                latest.timestamp,
            ) and latest.run_id == last_run.run_id
