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
    from ilms_dagster.event_storage import IlmsInstance, PooledSqliteEventLogStorage, PooledSqliteRunStorage
    from ilms_dagster.instance import open_instance
    from ilms_dagster.partitions import submission_key

    assert int(os.environ["DAGSTER_EVENT_BATCH_SIZE"]) > 0
    monkeypatch.setenv("DAGSTER_HOME", str(project.root / "dagster_home"))
    round_, countries = "2024", ["BRN", "KHM", "IDN"]
    ensure_samples(project.inbox, rounds=[round_], countries=countries)
    job = build_defs(project.resources).resolve_job_def("ingest_submissions")
    with open_instance() as instance:
        assert isinstance(instance, IlmsInstance) and isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        assert isinstance(instance.run_storage, PooledSqliteRunStorage)
        assert (project.root / "dagster_home" / "history" / "runs.db").exists()  # where Dagster's default keeps runs
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


def _ingest_on_shipped_instance(project, monkeypatch, home, round_: str, countries: list[str]) -> dict:
    """`run_round` on the shipped instance in `home`: what the run stored of its checks, as the UI reads it."""
    from ilms_dagster.instance import open_instance

    monkeypatch.setenv("DAGSTER_HOME", str(home))
    job = build_defs(project.resources).resolve_job_def("ingest_submissions")
    with open_instance() as instance:
        statuses = [o.status for o in run_round(job, instance, round_, countries)]
        (run,) = instance.get_runs()
        check_keys = sorted(job.asset_layer.asset_graph.asset_check_keys, key=str)
        partitions = {k: sorted((i.partition_key, i.latest_execution_status.value, i.is_current)
                                for i in instance.event_log_storage.get_asset_check_partition_info([k]))
                      for k in check_keys}  # fmt: skip
        history = {k: sorted((r.partition, r.status.value, r.event.dagster_event.event_type_value,
                              _without_paths(r.event.dagster_event.event_specific_data.metadata)
                              if r.status.value != "PLANNED" else None)
                             for r in instance.event_log_storage.get_asset_check_execution_history(k, limit=100))
                   for k in check_keys}  # fmt: skip
        kinds = [e.dagster_event.event_type_value if e.dagster_event else "log" for e in instance.all_logs(run.run_id)]
    return {"statuses": statuses, "partitions": partitions, "history": history, "kinds": kinds}


def _without_paths(metadata) -> dict:
    return {k: v for k, v in metadata.items() if not isinstance(v, dg.PathMetadataValue)}  # feedback file names


def test_the_shipped_instance_stores_a_runs_check_events_in_batches_as_dagster_stores_them_one_by_one(
        project, tmp_path, monkeypatch):  # fmt: skip
    """IlmsInstance stores a range run's check events as batches (25 planned ones when the run is created, 25
    evaluations a partition in its load step, which it holds back to batch them); the UI must read the same from
    them as from Dagster's own path, one event at a time (DAGSTER_EVENT_BATCH_SIZE=0): every status, every target
    materialization, every evaluation's metadata, the events in the same order. PHL 2020 holds a blocking mistake."""
    round_, countries = "2020", ["MMR", "PHL"]
    ensure_samples(project.inbox, rounds=[round_], countries=countries)
    batched = _ingest_on_shipped_instance(project, monkeypatch, tmp_path / "batched", round_, countries)
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "0")
    one_by_one = _ingest_on_shipped_instance(project, monkeypatch, tmp_path / "one_by_one", round_, countries)

    assert batched["statuses"] == ["ok", "blocked"]
    assert batched == one_by_one
    assert {p[1:] for rows in batched["partitions"].values() for p in rows} == {("SUCCEEDED", True), ("FAILED", True)}


def test_check_evaluations_target_the_latest_materialization_as_dagsters_records_give_it(project, monkeypatch):
    """Each evaluation names its partition's latest materialization (read by `latest_materializations` from the
    log's rows): storage id, run and time as Dagster's own records API gives them, after a second run too."""
    from ilms_dagster.instance import open_instance

    monkeypatch.setenv("DAGSTER_HOME", str(project.root / "dagster_home"))
    round_, countries = "2024", ["BRN", "KHM"]
    ensure_samples(project.inbox, rounds=[round_], countries=countries)
    job = build_defs(project.resources).resolve_job_def("ingest_submissions")
    with open_instance() as instance:
        for _ in range(2):
            assert {o.status for o in run_round(job, instance, round_, countries)} == {"ok"}
        last_run = max(instance.get_runs(), key=lambda r: instance.get_run_record_by_id(r.run_id).create_timestamp)
        evaluations = [e.dagster_event.event_specific_data for e in instance.all_logs(
            last_run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)]  # fmt: skip
        assert len(evaluations) == 2 * 25
        for e in evaluations:
            (latest,) = instance.fetch_materializations(dg.AssetRecordsFilter(
                asset_key=e.asset_key, asset_partitions=[e.partition]), limit=1).records  # fmt: skip
            target = e.target_materialization_data
            assert (target.storage_id, target.run_id, target.timestamp) == (
                latest.storage_id, latest.run_id, latest.timestamp) and latest.run_id == last_run.run_id


def test_the_shipped_instance_answers_country_lookups_from_memory_while_held(project, monkeypatch):
    """Inside `partition_keys_held` the instance answers Dagster's dynamic-partition lookups from memory: what
    another process adds meanwhile is not seen (the run sees the partitions as they were), what this instance
    adds is; outside, every lookup asks the storage again."""
    from ilms_dagster.instance import open_instance
    from ilms_dagster.partitions import COUNTRY
    from ilms_dagster.round_run import partition_keys_held

    monkeypatch.setenv("DAGSTER_HOME", str(project.root / "dagster_home"))
    with open_instance() as instance, open_instance() as other:
        with partition_keys_held(instance):
            assert instance.has_dynamic_partition(COUNTRY, "BRN") and not instance.has_dynamic_partition(COUNTRY, "XAA")
            other.add_dynamic_partitions(COUNTRY, ["XAA"])
            assert not instance.has_dynamic_partition(COUNTRY, "XAA") and "XAA" not in instance.get_dynamic_partitions(COUNTRY)
            instance.add_dynamic_partitions(COUNTRY, ["XAB"])
            assert instance.has_dynamic_partition(COUNTRY, "XAA") and instance.get_dynamic_partitions(COUNTRY)[-2:] == ["XAA", "XAB"]
            other.delete_dynamic_partition(COUNTRY, "XAB")
            assert instance.has_dynamic_partition(COUNTRY, "XAB")
        assert not instance.has_dynamic_partition(COUNTRY, "XAB") and "XAB" not in instance.get_dynamic_partitions(COUNTRY)
