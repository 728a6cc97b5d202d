"""The production topology, for real, on loopback: PostgreSQL (Debian's, as the postgres user), Redis, a gRPC
code server, the daemon, the webserver and two Celery workers as separate processes (`ilms deploy up`), driven
through the webserver's GraphQL API like an operator's browser. One topology for the module (start-up costs
~1-2 min on the shared machine); teardown runs `down`, which must leave none of its processes behind."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections import Counter
from pathlib import Path

import dagster as dg
import psycopg2
import pytest

from ilms_dagster.definitions import defs
from ilms_dagster.orchestration import processes
from ilms_dagster.orchestration import topology as deploy
from ilms_dagster.orchestration.dev_process import group_members
from ilms_dagster.registry import REPORTING_COUNTRIES, ROUNDS
from ilms_dagster.resources.warehouse import connect_read_only
from tests.support.dagster_dev import FINISHED, DagsterDev, backfill_asset_keys, ensure_partitions, lock_errors

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def topology():
    # Not under pytest's basetemp: every pytest session (ours, xdist workers, other checkouts) resets
    # /tmp/pytest-of-<user> to 0700, which takes the postgres user's way to its cluster from under it.
    root = Path(tempfile.mkdtemp(prefix="ilms-deploy-test-"))
    (root / "inbox").mkdir()  # empty: the bundled samples stand in for submissions
    topo = deploy.up(root / "deploy", root, workers=2)
    saved = {k: os.environ.get(k) for k in ("DAGSTER_HOME", "ILMS_POSTGRES_URL")}
    os.environ.update(
        DAGSTER_HOME=str(topo.home), ILMS_POSTGRES_URL=topo.postgres_url
    )  # this process reads the instance
    try:
        yield topo
    finally:
        for key, value in saved.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
        pids = [p for p in deploy.status(topo.root).values() if p]
        deploy.down(topo.root)
        shutil.rmtree(root, ignore_errors=True)
        assert not [p for p in pids if group_members(p)], "down left processes behind"


@pytest.fixture(scope="module")
def client(topology) -> DagsterDev:
    return DagsterDev(topology.url, topology.home, topology.log("webserver"), None)


@pytest.fixture(scope="module")
def instance(topology):
    with dg.DagsterInstance.get() as instance:
        yield instance


def wait_for(
    client: DagsterDev, backfill_id: str, timeout: float = 420, until=lambda status: status["status"] in FINISHED
):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.backfill(backfill_id)
        if until(status):
            return status
        time.sleep(1)
    raise TimeoutError(f"backfill {backfill_id}: {status}")


def materializations_per_partition(instance, partitions: list[str]) -> Counter:
    counts = Counter()
    for key in backfill_asset_keys(defs):
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=partitions), limit=1000
        )
        counts.update((key.to_user_string(), r.partition_key) for r in records.records)
    return counts


def step_start_pid(instance, run_id: str, step: str) -> int | None:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_START).records
    return next((r.event_log_entry.dagster_event.pid for r in records if r.event_log_entry.step_key == step), None)


def test_topology_runs_on_postgres_and_celery_on_loopback_and_refuses_a_taken_port(topology):
    status = deploy.status(topology.root)
    assert all(status.values()) and set(status) == {*processes.SERVICES, "worker_1", "worker_2"}
    assert (topology.root / "postgres" / "PG_VERSION").exists() and Path(
        topology.root / "postgres"
    ).owner() == "postgres"
    with psycopg2.connect(topology.postgres_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT inet_server_addr()::text, current_setting('listen_addresses')")
        assert cur.fetchone() == ("127.0.0.1/32", "127.0.0.1")
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    with pytest.raises(deploy.DeployError, match=f"port {topology.ports['redis']} on 127.0.0.1 for redis is taken"):
        deploy.up(topology.root.parent / "second", topology.data_dir, ports={"redis": topology.ports["redis"]})
    assert not (topology.root.parent / "second" / "pids").exists()


def test_backfill_on_celery_workers_survives_a_killed_daemon(topology, client, instance):
    rounds, countries = ROUNDS[-2:], REPORTING_COUNTRIES  # two rounds x ten countries: two runs of ten
    partitions = ensure_partitions(instance, rounds, countries)
    backfill_id = client.launch_backfill(partitions, backfill_asset_keys(defs), "deploy: two rounds")
    wait_for(client, backfill_id, 240, until=lambda s: any(r["status"] == "STARTED" for r in s["runs"]))
    os.killpg(deploy.running_pid(topology, "daemon"), signal.SIGKILL)  # the daemon dies mid-backfill
    time.sleep(3)
    assert deploy.running_pid(topology, "daemon") is None
    deploy.start_daemon(topology)
    status = wait_for(client, backfill_id)

    assert status["status"] == "COMPLETED_SUCCESS", status
    counts = materializations_per_partition(instance, partitions)
    expected = {(key.to_user_string(), p) for key in backfill_asset_keys(defs) for p in partitions}
    assert set(counts) == expected and set(counts.values()) == {1}  # every partition once: none lost, none twice
    run_ids = [r["runId"] for r in status["runs"]]
    runs = [instance.get_run_by_id(run_id) for run_id in run_ids]
    first = [r for r in runs if "dagster/parent_run_id" not in r.tags]
    retries = [r for r in runs if "dagster/parent_run_id" in r.tags]
    assert len(first) == 2, [(r.run_id, r.status, r.tags) for r in runs]  # one run per round
    for run in first:  # a run the daemon was launching when it died never starts: run monitoring fails it after
        if run.status != dg.DagsterRunStatus.SUCCESS:  # start_timeout_seconds, and the run retry completes it
            assert run.tags.get("dagster/failure_reason") == "START_TIMEOUT", (run.run_id, run.status, run.tags)
            assert [r.status for r in retries if r.tags["dagster/parent_run_id"] == run.run_id] == [
                dg.DagsterRunStatus.SUCCESS
            ]
    assert len(retries) == sum(r.status != dg.DagsterRunStatus.SUCCESS for r in first)
    assert lock_errors(instance, run_ids) == []
    workers = {
        r.event_log_entry.dagster_event.event_specific_data.metadata["Celery worker"].value
        for run_id in run_ids
        for r in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT).records
        if "Celery worker" in (r.event_log_entry.dagster_event.event_specific_data.metadata or {})
    }
    assert workers and all(w.startswith("ilms-worker-") for w in workers)  # the steps ran on the Celery workers
    with psycopg2.connect(topology.postgres_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM runs WHERE run_id = ANY(%s) AND status = 'SUCCESS'", [run_ids])
        assert cur.fetchone()[0] == 2  # one successful run per round
        cur.execute(
            "SELECT count(*) FROM event_logs WHERE run_id = ANY(%s) AND dagster_event_type = 'ASSET_MATERIALIZATION'",
            [run_ids],
        )
        assert cur.fetchone()[0] == len(expected)
    with connect_read_only(
        topology.data_dir / "warehouse.duckdb"
    ) as conn:  # the models' automation may hold the writer
        loaded = conn.execute("SELECT round::VARCHAR, ref_area FROM raw.submissions").fetchall()
    assert sorted(loaded) == sorted((r, c) for r in rounds for c in countries)


def test_a_killed_worker_or_run_process_fails_its_run_and_a_retry_completes_it(topology, client, instance):
    """Worker: the Celery pool process running the parse step is SIGKILLed (as the OOM killer would). Run: the
    run's own process is SIGKILLed while its step is on a worker; the inbox sensor's sweep marks it failed."""
    keys = backfill_asset_keys(defs)
    worker_case, run_case = (
        ensure_partitions(instance, [ROUNDS[-3]], ["BRN"]),
        ensure_partitions(instance, [ROUNDS[-4]], ["BRN"]),
    )
    backfills = {
        "worker": client.launch_backfill(worker_case, keys, "deploy: worker killed"),
        "run": client.launch_backfill(run_case, keys, "deploy: run killed"),
    }
    killed = {}
    deadline = time.monotonic() + 300
    while len(killed) < 2 and time.monotonic() < deadline:
        for case, backfill_id in backfills.items():
            runs = client.backfill(backfill_id)["runs"]
            if case in killed or not runs:
                continue
            run_id = runs[-1]["runId"]
            worker_pid = step_start_pid(instance, run_id, "submission_file")
            if worker_pid is None:
                continue
            records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_START).records
            pid = worker_pid if case == "worker" else records[0].event_log_entry.dagster_event.pid
            assert pid != os.getpid()
            os.kill(pid, signal.SIGKILL)
            killed[case] = run_id
        time.sleep(0.5)
    assert len(killed) == 2, f"steps never started: {killed}"
    for case, backfill_id in backfills.items():
        status = wait_for(client, backfill_id, 360)
        first = instance.get_run_by_id(killed[case])
        assert first.status == dg.DagsterRunStatus.FAILURE, (case, first.status)
        retries = instance.get_runs(dg.RunsFilter(tags={"dagster/parent_run_id": killed[case]}))
        assert [r.status for r in retries] == [dg.DagsterRunStatus.SUCCESS], case
        assert status["status"] == "COMPLETED_SUCCESS", (case, status)
    with connect_read_only(
        topology.data_dir / "warehouse.duckdb"
    ) as conn:  # the models' automation may hold the writer
        loaded = conn.execute(
            "SELECT round::VARCHAR, ref_area, count(*) FROM raw.submissions WHERE round IN (?, ?) "
            "GROUP BY ALL ORDER BY 1",
            [int(ROUNDS[-4]), int(ROUNDS[-3])],
        ).fetchall()
    assert loaded == [(ROUNDS[-4], "BRN", 1), (ROUNDS[-3], "BRN", 1)]
