"""`ilms run`'s way through Dagster: a round in one run per contiguous range of countries, ~60 events a
partition, and a rejected workbook named while the others of its range are still ingested."""

from __future__ import annotations

import dagster as dg

from ilms_dagster.definitions import build_defs
from ilms_dagster.round_run import contiguous, run_round
from ilms_dagster.samples import ensure_samples


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


def test_a_run_over_a_range_records_at_most_80_events_a_partition(project):
    round_, countries = "2024", ["BRN", "KHM", "IDN", "LAO"]
    ensure_samples(project.inbox, rounds=[round_], countries=countries)
    job = build_defs(project.resources).resolve_job_def("ingest_submissions")
    assert {o.status for o in run_round(job, project.instance, round_, countries)} == {"ok"}
    (run,) = project.instance.get_runs()
    events = project.instance.all_logs(run.run_id)
    per_partition = len(events) / len(countries)
    assert per_partition <= 80, per_partition
    checks = [e for e in events if e.dagster_event and e.dagster_event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION]
    assert len(checks) == len(countries) * 25  # one per table and one per submission, for every partition


def test_on_the_shipped_instance_a_range_run_writes_each_assets_partitions_in_one_batch(project, monkeypatch):
    """The shipped dagster.yaml's IlmsInstance stores an asset's materializations over the run's range as one
    batch (environment.py sets DAGSTER_EVENT_BATCH_SIZE): every partition is recorded, the asset's latest
    materialization is the last one stored, and the UI's partition status sees them all."""
    import os

    from ilms_dagster.assets.ilmq import table_key
    from ilms_dagster.event_storage import IlmsInstance, PooledSqliteEventLogStorage
    from ilms_dagster.instance import open_instance
    from ilms_dagster.partitions import submission_key

    assert int(os.environ["DAGSTER_EVENT_BATCH_SIZE"]) > 0
    monkeypatch.setenv("DAGSTER_HOME", str(project.root / "dagster_home"))
    round_, countries = "2024", ["BRN", "KHM", "IDN"]
    ensure_samples(project.inbox, rounds=[round_], countries=countries)
    job = build_defs(project.resources).resolve_job_def("ingest_submissions")
    with open_instance() as instance:
        assert isinstance(instance, IlmsInstance) and isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        assert {o.status for o in run_round(job, instance, round_, countries)} == {"ok"}
        keys = [str(submission_key(round_, c)) for c in countries]
        for key in (table_key("emp_by_age"), table_key("outflow_by_destination")):
            assert sorted(instance.get_materialized_partitions(key)) == sorted(keys)
            records = instance.fetch_materializations(key, limit=10).records
            assert sorted(r.partition_key for r in records) == sorted(keys)
            newest = max(records, key=lambda r: r.storage_id)  # the last one the event log stored
            assert instance.get_latest_materialization_event(key).dagster_event.partition == newest.partition_key
            assert instance.get_asset_records([key])[0].asset_entry.last_materialization_record is not None


def test_the_shipped_instance_shortens_the_backfill_daemons_loop(tmp_path, monkeypatch):
    """The daemon opens the instance of the shipped dagster.yaml (IlmsInstance) before its backfill loop starts;
    that loop sleeps DEFAULT_DAEMON_INTERVAL_SECONDS less its own duration (a Dagster upgrade renaming it fails here)."""
    import inspect
    import shutil

    from dagster._daemon import backfill, controller

    from ilms_dagster.event_storage import BACKFILL_LOOP_SECONDS
    from ilms_dagster.instance import SHIPPED_DAGSTER_YAML

    assert "from dagster._daemon.controller import DEFAULT_DAEMON_INTERVAL_SECONDS" in inspect.getsource(
        backfill.execute_backfill_iteration_loop)  # fmt: skip
    monkeypatch.setattr(controller, "DEFAULT_DAEMON_INTERVAL_SECONDS", 30)  # Dagster's own value
    shutil.copyfile(SHIPPED_DAGSTER_YAML, tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)):
        assert controller.DEFAULT_DAEMON_INTERVAL_SECONDS == BACKFILL_LOOP_SECONDS < 30
