"""The production topology's figures, side by side in one run (docs/deployment.md):

1. events/s and per-partition time on SQLite instance storage (the shipped dagster.yaml: IlmsInstance) vs
   PostgreSQL (deploy/dagster.yaml, the PostgreSQL of `ilms deploy up`), both in this process;
2. backfill wall time of two rounds x ten countries through the webserver's GraphQL API with 2 Celery
   workers, then (worker 2 stopped) two other rounds with 1 worker.

Usage: uv run python benchmarks/deployment.py [--events 300] [--partitions 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [
    str(Path(__file__).resolve().parent),
    str(Path(__file__).resolve().parents[1]),
]  # harness, tests.support
import dagster as dg  # noqa: E402
from harness import PROJECT, write_section  # noqa: E402

from ilms_dagster.orchestration import topology as deploy  # noqa: E402
from ilms_dagster.registry import REPORTING_COUNTRIES, ROUNDS  # noqa: E402
from tests.support.dagster_dev import DagsterDev, backfill_asset_keys, ensure_partitions  # noqa: E402

DOC = PROJECT / "docs" / "deployment.md"


def instance_figures(home: Path, data: Path, events: int, partitions: int) -> dict[str, float]:
    """Events/s of engine events written to a run, and seconds per partition of the ingestion assets
    (in-process executor, one partition per run), on the instance of `home`."""
    from ilms_dagster.assets import ilmq_tables, submission_file
    from ilms_dagster.partitions import ensure_countries, submission_key
    from ilms_dagster.resources import IlmsStorage
    from ilms_dagster.resources.warehouse import WarehouseResource

    os.environ["DAGSTER_HOME"] = str(home)
    (data / "inbox").mkdir(parents=True, exist_ok=True)
    resources = {
        "storage": IlmsStorage(data_dir=str(data), inbox_dir=str(data / "inbox")),
        "warehouse": WarehouseResource(database=str(data / "warehouse.duckdb")),
    }
    with dg.DagsterInstance.get() as instance:
        ensure_countries(instance)

        @dg.asset
        def probe() -> None:
            return None

        run = instance.get_run_by_id(dg.materialize([probe], instance=instance).run_id)
        started = time.perf_counter()
        for i in range(events):
            instance.report_engine_event(f"benchmark event {i}", run)
        events_s = events / (time.perf_counter() - started)
        pairs = [(ROUNDS[-1], c) for c in REPORTING_COUNTRIES[:partitions]]
        dg.materialize(
            [submission_file, ilmq_tables],
            partition_key=submission_key(*pairs[0]),
            resources=resources,
            instance=instance,
        )  # warm-up: imports, samples, warehouse schema
        started = time.perf_counter()
        for round_, country in pairs[1:] + [(ROUNDS[-2], c) for c in REPORTING_COUNTRIES[:1]]:
            dg.materialize(
                [submission_file, ilmq_tables],
                partition_key=submission_key(round_, country),
                resources=resources,
                instance=instance,
            )
        per_partition = (time.perf_counter() - started) / len(pairs)
    return {"events_s": events_s, "partition_s": per_partition, "kind": type(instance.event_log_storage).__name__}


def backfill_seconds(topology: deploy.Topology, rounds: list[str]) -> float:
    client = DagsterDev(topology.url, topology.home, topology.log("webserver"), None)
    os.environ["DAGSTER_HOME"] = str(topology.home)
    from ilms_dagster.definitions import defs

    with dg.DagsterInstance.get() as instance:
        keys = ensure_partitions(instance, rounds, REPORTING_COUNTRIES)
    started = time.monotonic()
    backfill_id = client.launch_backfill(keys, backfill_asset_keys(defs), f"benchmark {rounds}")
    status = _wait(client, backfill_id)
    if status["status"] != "COMPLETED_SUCCESS":
        raise SystemExit(f"backfill {rounds} ended {status['status']}: the comparison is void")
    return time.monotonic() - started


def _wait(client: DagsterDev, backfill_id: str) -> dict:
    from tests.support.dagster_dev import FINISHED

    while (status := client.backfill(backfill_id))["status"] not in FINISHED:
        time.sleep(1)
    return status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--partitions", type=int, default=2, help="timed partitions per instance storage")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ilms-deploy-bench-"))
    try:
        topology = deploy.up(root / "deploy", root / "topology", workers=2, report=print)
        try:
            os.environ["ILMS_POSTGRES_URL"] = topology.postgres_url
            sqlite_home = root / "sqlite_home"
            sqlite_home.mkdir()
            shutil.copyfile(PROJECT / "dagster.yaml", sqlite_home / "dagster.yaml")
            sqlite = instance_figures(sqlite_home, root / "sqlite_data", args.events, args.partitions)
            postgres = instance_figures(topology.home, root / "postgres_data", args.events, args.partitions)
            two = backfill_seconds(topology, ROUNDS[:2])
            deploy.stop(topology, "worker_2")
            one = backfill_seconds(topology, ROUNDS[2:4])
        finally:
            deploy.down(topology.root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    n = 2 * len(REPORTING_COUNTRIES)
    text = "\n".join(
        [
            "Measured by `benchmarks/deployment.py` on this 2-core machine, shared with other jobs at the time "
            "(absolute figures are pessimistic; compare the columns).",
            "",
            "| measure | SQLite (shipped dagster.yaml) | PostgreSQL (deploy/dagster.yaml) |",
            "|---|---|---|",
            f"| engine events written per second ({args.events} events) | {sqlite['events_s']:.0f} | {postgres['events_s']:.0f} |",
            f"| ingestion, seconds per partition (in-process, {args.partitions} partitions) | {sqlite['partition_s']:.1f} | "
            f"{postgres['partition_s']:.1f} |",
            "",
            "| backfill of 2 rounds x 10 countries (2 runs), GraphQL launch to completion | 1 Celery worker | 2 Celery workers |",
            "|---|---|---|",
            f"| wall time (s) | {one:.0f} | {two:.0f} |",
            f"| partitions per minute | {n / one * 60:.1f} | {n / two * 60:.1f} |",
        ]
    )
    print(text)
    write_section("deployment-figures", text, doc=DOC)


if __name__ == "__main__":
    main()
