"""Backfill benchmark: rounds x countries (default 2015-2024 x the ten ASEAN countries = 100 partitions) launched
through `dagster dev`'s GraphQL API, as the UI's Materialize button does, and run by the daemon with the shipped
dagster.yaml (pool duckdb_warehouse: one writer at a time) and the executor the definitions declare (in-process)
or the multiprocess one (a process per step).

Each variant gets a fresh DAGSTER_HOME, data folder and warehouse; the inbox sensor is turned off (through the
UI's stopSensor mutation), then the sample workbooks are put in the inbox, as received submissions would be. "defined" is the backfill policy the assets declare; "single_run" and
"multi_run:<n>" override it, and --executor multiprocess the executor (benchmarks/backfill_defs.py).
Prints per variant the wall time from launch to the
backfill's end, the time per partition, the runs launched, the partitions whose rows landed in DuckDB and the
"Could not set lock" events in the runs' logs.

The same partitions then go through the bare path (benchmarks/harness.py: the project's functions without
Dagster, in one process) from a copy of the same inbox; the ILMQ tables, raw.submissions and the validation
results of both warehouses are asserted equal, and the ratio of wall times is printed and written into
docs/performance.md.

Usage: uv run python benchmarks/backfill.py [--policy defined --policy multi_run:1]
       [--executor defined --executor multiprocess] [--rounds 2015-2024]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [
    str(Path(__file__).resolve().parent),
    str(Path(__file__).resolve().parents[1]),
]  # harness, tests.support

import dagster as dg
import duckdb
from harness import digest, measure, write_section

from ilms_dagster.assets.operations import inbox_sensor
from ilms_dagster.definitions import defs
from ilms_dagster.intake.submissions import NoSubmission, StagedSubmission
from ilms_dagster.orchestration.instance import instance_at
from ilms_dagster.questionnaire.samples import ensure_samples
from ilms_dagster.registry import REPORTING_COUNTRIES, TABLES
from ilms_dagster.resources import IlmsStorage
from tests.support.dagster_dev import backfill_asset_keys, dagster_dev, ensure_partitions, lock_errors

INBOX_SENSOR = inbox_sensor.name
SENSOR_TICK_GRACE_SECONDS = 10


def describe(policy: dg.BackfillPolicy | None) -> str:
    if policy is None:
        return "none (a run per partition)"
    return "single_run" if policy.max_partitions_per_run is None else f"multi_run({policy.max_partitions_per_run})"


def defined_policy() -> str:
    graph = defs.resolve_asset_graph()
    return ", ".join(sorted({describe(graph.get(key).backfill_policy) for key in backfill_asset_keys(defs)}))


def landed(root: Path, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Partitions recorded in raw.submissions whose ILMQ rows equal the rows staged from their workbook."""
    storage = IlmsStorage(data_dir=str(root), inbox_dir=str(root / "inbox"))
    union = " UNION ALL ".join(f"SELECT round, ref_area FROM ilmq.{t}" for t in TABLES)
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as conn:
        submitted = {(str(r), c) for r, c in conn.execute("SELECT round, ref_area FROM raw.submissions").fetchall()}
        counts = conn.execute(f"SELECT round, ref_area, count(*) FROM ({union}) GROUP BY ALL").fetchall()
    rows = {(str(r), c): n for r, c, n in counts}
    ok = []
    for round_, country in pairs:
        try:
            staged = sum(s["rows"] for s in StagedSubmission.load(storage, round_, country).stats.values())
        except NoSubmission:  # the workbook never got staged
            continue
        if (round_, country) in submitted and rows.get((round_, country)) == staged > 0:
            ok.append((round_, country))
    return ok


def run_variant(
    policy: str, executor: str, root: Path, samples: Path, rounds: list[str], dagster_yaml: str | None = None
) -> dict:
    """One backfill on a fresh `dagster dev` (its dagster.yaml the shipped one, or `dagster_yaml`)."""
    if dagster_yaml is not None:
        (root / "dagster_home").mkdir(parents=True, exist_ok=True)
        (root / "dagster_home" / "dagster.yaml").write_text(dagster_yaml)
    env = ({"ILMS_BENCH_BACKFILL_POLICY": policy} if policy != "defined" else {}) | (
        {"ILMS_BENCH_EXECUTOR": executor} if executor != "defined" else {}
    )
    module = "benchmarks.backfill_defs" if env else None  # overrides: the code location of backfill_defs.py
    with dagster_dev(root, module=module, env=env) as server:
        # the workbooks arrive with the inbox sensor off: otherwise it ingests each in a run of its own, and its
        # 100 runs (not the backfill) are what gets measured
        server.stop_sensor(INBOX_SENSOR)
        time.sleep(SENSOR_TICK_GRACE_SECONDS)  # a tick under way when it was stopped ends on the empty inbox
        shutil.copytree(samples, root / "inbox", dirs_exist_ok=True)
        with instance_at(server.home) as instance:
            keys = ensure_partitions(instance, rounds, REPORTING_COUNTRIES)
        started, launched_at = time.monotonic(), time.time()
        backfill_id = server.launch_backfill(keys, backfill_asset_keys(defs), title=f"benchmark {policy}")
        status = server.wait_for_backfill(backfill_id, timeout=4 * 3600)
        wall, done_at = time.monotonic() - started, time.time()
        runs = status["runs"]
        if not runs:
            raise SystemExit(f"backfill {policy} launched no run: {status}\n{server.log_tail()}")
        with instance_at(server.home) as instance:
            locks = lock_errors(instance, [run["runId"] for run in runs])
            others = [r.run_id for r in instance.get_runs() if r.tags.get("dagster/backfill") != backfill_id]
        if others:  # every run timed must be the backfill's
            raise SystemExit(f"runs outside backfill {backfill_id} ran meanwhile ({len(others)}): the figure is void")
    pairs = [(r, c) for r in rounds for c in REPORTING_COUNTRIES]
    failed = [s["numPartitionsFailed"] for s in status["assetBackfillData"]["assetBackfillStatuses"]]
    return {
        "policy": f"{defined_policy()} (defined)" if policy == "defined" else policy,
        "executor": f"{defs.executor.name} (defined)" if executor == "defined" else executor,
        "partitions": len(keys),
        "status": status["status"],
        "wall": wall,
        "runs": len(runs),
        "runs_failed": sum(run["status"] != "SUCCESS" for run in runs),
        "runs_span": max(r["endTime"] for r in runs) - min(r["startTime"] for r in runs),
        "to_first_start": min(r["startTime"] for r in runs) - launched_at,
        "after_last_end": done_at - max(r["endTime"] for r in runs),
        "landed": len(landed(root, pairs)),
        "max_failed_partitions": max(failed, default=0),
        "lock_errors": locks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", action="append", help="defined | single_run | multi_run:<n> (repeatable)")
    parser.add_argument("--executor", action="append", help="defined | in_process | multiprocess (repeatable)")
    parser.add_argument("--rounds", default="2015-2024", help="first-last round (default 2015-2024)")
    args = parser.parse_args()
    first, _, last = args.rounds.partition("-")
    rounds = [str(r) for r in range(int(first), int(last or first) + 1)]
    with tempfile.TemporaryDirectory(prefix="ilms-backfill-") as tmp:
        started = time.monotonic()
        ensure_samples(Path(tmp) / "samples", rounds=rounds)
        print(
            f"{len(rounds)} rounds x {len(REPORTING_COUNTRIES)} countries; "
            f"sample workbooks written in {time.monotonic() - started:.0f} s"
        )
        results = []
        for policy in args.policy or ["defined"]:
            for executor in args.executor or ["defined"]:
                root = Path(tmp) / f"{policy.replace(':', '_')}-{executor}"
                result = run_variant(policy, executor, root, Path(tmp) / "samples", rounds)
                results.append(result)
                print_result(result)
        root = Path(tmp) / "bare"
        shutil.copytree(Path(tmp) / "samples", root / "inbox")
        bare = measure("bare-ingest", str(root), *[f"{r}:{','.join(REPORTING_COUNTRIES)}" for r in rounds])
        # raw and ilmq must be equal; validation findings may not be: the revision rule compares a round with
        # the earlier rounds already loaded, and a backfill loads rounds in another order than the bare path
        ingested = ("raw", "ilmq")
        same = [
            digest(Path(tmp) / f"{p.replace(':', '_')}-{e}" / "warehouse.duckdb", ingested)
            == digest(root / "warehouse.duckdb", ingested)
            for p in args.policy or ["defined"]
            for e in args.executor or ["defined"]
        ]
    lines = [
        f"Backfill of {len(rounds)} rounds x {len(REPORTING_COUNTRIES)} countries through `dagster dev`'s GraphQL "
        f"API against the bare path on the same {len(rounds) * len(REPORTING_COUNTRIES)} partitions (one process, "
        f"{bare['process_wall_s']:.0f} s wall, {bare['cpu_s']:.0f} s CPU):",
        "",
        "| policy | executor | runs | wall | per partition | landed in DuckDB | lock errors | raw + ilmq as bare "
        "| wall / bare |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r, equal in zip(results, same, strict=True):
        lines.append(
            f"| {r['policy']} | {r['executor']} | {r['runs']} | {r['wall']:.0f} s | "
            f"{r['wall'] / r['partitions']:.2f} s | {r['landed']} of {r['partitions']} | "
            f"{len(r['lock_errors'])} | {equal} | {r['wall'] / bare['process_wall_s']:.2f}x |"
        )
    text = "\n".join(lines)
    print("\n" + text)
    write_section("backfill", text)
    if not all(same):
        raise SystemExit("the backfill and the bare path built different tables")
    if any(r["landed"] != r["partitions"] or r["lock_errors"] for r in results):
        raise SystemExit("some partitions did not land in DuckDB, or a run hit a DuckDB lock error")


def print_result(r: dict) -> None:
    print(f"\nbackfill policy {r['policy']}, executor {r['executor']}: {r['status']}")
    per_partition = r["wall"] / r["partitions"]
    print(f"  wall time (launch -> backfill done) : {r['wall']:7.1f} s  ({per_partition:.2f} s/partition)")
    print(f"  runs launched                       : {r['runs']} ({r['runs_failed']} failed)")
    print(f"  first run start -> last run end     : {r['runs_span']:7.1f} s")
    print(
        f"  daemon and queue                    : {r['to_first_start']:7.1f} s to the first start, "
        f"{r['after_last_end']:.1f} s after the last end"
    )
    print(
        f"  partitions landed in DuckDB         : {r['landed']} of {r['partitions']} "
        f"(backfill: at most {r['max_failed_partitions']} failed per asset)"
    )
    print(f"  'Could not set lock' in event logs  : {len(r['lock_errors'])}")
    for line in r["lock_errors"][:5]:
        print(f"    {line}")


if __name__ == "__main__":
    main()
