"""Benchmark harness: the pipeline's work without Dagster (the "bare path"), the same work through Dagster,
each in a process of its own that reports what it cost, and a digest of the warehouse to prove both built
the same thing.

    python benchmarks/harness.py bare <data dir> <round>:<ISO3>[,<ISO3>...] ...   # bare path, then the models
    python benchmarks/harness.py bare-ingest <data dir> <round>:<ISO3>[,...] ...  # the same without the models
    python benchmarks/harness.py bare-build <data dir> <round>:<ISO3>[,...] ...   # bare-ingest, staging in 2 processes
    python benchmarks/harness.py ilms-run <data dir> <round> [<ISO3> ...]          # `ilms run --no-publish`
    python benchmarks/harness.py ilms-run-publish <data dir> <round> [<ISO3> ...]  # `ilms run`, publication included

The child prints one JSON line last: wall and CPU seconds (user + system, all threads), peak RSS (MB),
bytes written to storage (psutil: write_bytes) and through write() (wchar), and its CPU by phase.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
README = PROJECT / "README.md"


def _io() -> dict[str, int]:
    import psutil

    counters = psutil.Process().io_counters()
    return {"write_bytes": counters.write_bytes, "wchar": counters.write_chars}


def _stage(partition: tuple[str, str]):
    from ilms_dagster.checks import run_expectations
    from ilms_dagster.intake.submissions import archive, find_submission, stage
    from ilms_dagster.resources.storage import default_storage

    storage, (round_, country) = default_storage(), partition
    return stage(
        storage,
        round_,
        country,
        archive(storage, find_submission(storage, round_, country)),
        expectations=run_expectations,
    )


def bare(data_dir: Path, partitions: list[tuple[str, str]], models: bool = True, workers: int = 1) -> dict[str, float]:
    """What one `ilms run` (or a backfill) does for these partitions, as plain calls of the project's
    functions: find, archive, parse + expectation suites + stage; one load transaction with the SQL rules
    and the verdict per partition; feedback workbook; the analysts' read copy; then every model and the read
    copy again. `workers` > 1 stages in that many processes (to build a large warehouse sooner; the loads stay
    one at a time)."""
    import duckdb

    from ilms_dagster.checks import record, validate_submission, write_feedback
    from ilms_dagster.models.build import build_all
    from ilms_dagster.models.discovery import discover
    from ilms_dagster.resources.storage import default_storage
    from ilms_dagster.resources.warehouse import (
        ensure_schema,
        publish_read_copy,
        replace_partition,
        transaction,
        warehouse_path,
    )

    storage, started, phases = default_storage(), time.perf_counter(), {"imports": _cpu()}
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as pool:
            staged = list(pool.map(_stage, partitions, chunksize=8))
    else:
        staged = [_stage(partition) for partition in partitions]
    with duckdb.connect(str(warehouse_path())) as conn:
        ensure_schema(conn)
        for sub in staged:
            with transaction(conn):
                replace_partition(
                    conn, sub.submission["round"], sub.submission["ref_area"], sub.parquet_by_table, sub.submission
                )
                validation = validate_submission(conn, sub)
                record(conn, validation)
            write_feedback(storage.feedback, validation)
        publish_read_copy(conn)
        ingested, phases["ingestion"] = time.perf_counter(), _cpu() - phases["imports"]
        if models:
            build_all(conn, discover())
            publish_read_copy(conn)
        phases["models"] = _cpu() - phases["imports"] - phases["ingestion"]
    return {"ingest_s": ingested - started, "models_s": time.perf_counter() - ingested, "cpu_phases": phases}


def _cpu() -> float:
    """CPU seconds of this process so far (user + system, all threads; interpreter start-up included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def ilms_run(round_: str, countries: list[str], publish: bool = False) -> dict:
    """`ilms run` itself; without the publication unless `publish` (the bare path does not publish). Its CPU by
    phase: the instance (opened, or created on first use), each job's in-process run, and around them the
    start-up and imports (before the instance) and the rest (inbox scan, summary)."""
    import dagster as dg

    from ilms_dagster.cli import app
    from ilms_dagster.orchestration import instance

    phases: dict[str, float] = {}
    opened, execute = instance.open_instance, dg.JobDefinition.execute_in_process

    def timed(name: str, fn, *a, **kw):
        before = _cpu()
        phases.setdefault("imports", before)
        try:
            return fn(*a, **kw)
        finally:
            phases[name] = phases.get(name, 0.0) + _cpu() - before

    instance.open_instance = lambda: timed("instance", opened)
    dg.JobDefinition.execute_in_process = lambda job, *a, **kw: timed(
        "ingestion" if job.name == "ingest_submissions" else "models", execute, job, *a, **kw
    )
    args = ["run", "--round", round_, "--publish" if publish else "--no-publish"]
    args += [a for c in countries for a in ("--country", c)]
    try:
        app(args, standalone_mode=False)
    except SystemExit as exc:  # typer.Exit in standalone_mode=False
        if exc.code:
            raise
    finally:
        instance.open_instance, dg.JobDefinition.execute_in_process = opened, execute
    phases["rest"] = _cpu() - sum(phases.values())
    return {"cpu_phases": phases}


def child(argv: list[str]) -> None:
    mode, data_dir = argv[0], Path(argv[1])
    os.environ.update(
        ILMS_DATA_DIR=str(data_dir),
        ILMS_INBOX=str(data_dir / "inbox"),
        ILMS_WAREHOUSE=str(data_dir / "warehouse.duckdb"),
        DAGSTER_HOME=str(data_dir / "dagster_home"),
    )
    started, io, timings = time.perf_counter(), _io(), {}
    if mode in ("bare", "bare-ingest", "bare-build"):
        partitions = [(spec.split(":")[0], c) for spec in argv[2:] for c in spec.split(":")[1].split(",")]
        timings = bare(data_dir, partitions, models=mode == "bare", workers=2 if mode == "bare-build" else 1)
    elif mode in ("ilms-run", "ilms-run-publish"):
        timings = ilms_run(argv[2], argv[3:], publish=mode == "ilms-run-publish")
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    usage, after = resource.getrusage(resource.RUSAGE_SELF), _io()
    print(
        json.dumps(
            {
                "wall_s": time.perf_counter() - started,
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "peak_rss_mb": usage.ru_maxrss / 1024,
                "write_bytes": after["write_bytes"] - io["write_bytes"],
                "wchar": after["wchar"] - io["wchar"],
            }
            | timings
        )
    )


def measure(*args: str, env: dict | None = None) -> dict:
    """Run the harness in a child process: its own report plus the wall time seen from outside (start-up
    and imports included)."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(Path(__file__)), *args],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        env=os.environ | (env or {}),
    )
    if done.returncode:
        raise RuntimeError(f"harness {args[:2]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    *output, last = done.stdout.strip().splitlines()
    return json.loads(last) | {"process_wall_s": time.perf_counter() - started, "output": output}


def digest(warehouse: Path, schemas: tuple[str, ...] = ("raw", "ilmq", "validation", "staging", "marts")) -> str:
    """The warehouse's content digest (resources.warehouse.content_digest: times and paths left out): two
    warehouses built from the same submissions give the same digest whatever built them."""
    import duckdb

    from ilms_dagster.resources.warehouse import content_digest

    with duckdb.connect(str(warehouse), read_only=True) as conn:
        return content_digest(conn, schemas)


def prepare_samples(root: Path, rounds: list[str]) -> Path:
    """The bundled sample submissions of `rounds`, written once under `root/template/samples`: every measured
    run starts from a copy, so writing workbooks (openpyxl, ~1 s each) is never measured."""
    from ilms_dagster.questionnaire.samples import ensure_samples

    template = root / "template"
    ensure_samples(template / "samples", rounds=rounds)
    return template


def fresh(template: Path, target: Path) -> Path:
    import shutil

    shutil.copytree(template, target)
    (target / "inbox").mkdir(exist_ok=True)
    return target


def ingest_events(dagster_home: Path) -> tuple[int, int, int]:
    """(ingestion runs, their events, partitions they covered) on the instance in `dagster_home`."""
    import dagster as dg

    from ilms_dagster.orchestration.instance import instance_at

    with instance_at(dagster_home) as instance:
        runs = [r for r in instance.get_runs() if r.job_name == "ingest_submissions"]
        events = sum(len(instance.all_logs(r.run_id)) for r in runs)
        partitions = len(
            {
                e.dagster_event.partition
                for r in runs
                for e in instance.all_logs(r.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
                if e.dagster_event.asset_key.path == ["raw", "submissions"]
            }
        )
    return len(runs), events, partitions


def ingest_run_seconds(dagster_home: Path) -> float:
    """Wall seconds the ingestion runs on the instance took, start to end (the run itself: no imports)."""
    from ilms_dagster.orchestration.instance import instance_at

    with instance_at(dagster_home) as instance:
        stats = [instance.get_run_stats(r.run_id) for r in instance.get_runs() if r.job_name == "ingest_submissions"]
    return sum(s.end_time - s.start_time for s in stats)


def stamp() -> str:
    """Which script wrote a table, when, on which commit and how loaded the machine was."""
    from datetime import UTC, datetime

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT, capture_output=True, text=True)
    return (
        f"_Written by `benchmarks/{Path(sys.argv[0]).name}` on {datetime.now(UTC):%Y-%m-%d} at commit "
        f"{commit.stdout.strip() or 'unknown'}; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}._"
    )


def write_section(name: str, text: str, doc: Path = PROJECT / "docs" / "performance.md") -> None:
    """Replace the `<!-- name -->` ... `<!-- /name -->` block of docs/performance.md by `text` and its stamp."""
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    content = doc.read_text() if doc.exists() else ""
    block = f"{start}\n{text.rstrip()}\n\n{stamp()}\n{end}"
    if start in content:
        before, rest = content.split(start, 1)
        content = before + block + rest.split(end, 1)[1]
    else:
        content = content.rstrip() + "\n\n" + block + "\n"
    doc.write_text(content)


if __name__ == "__main__":
    sys.path.insert(0, str(PROJECT))
    child(sys.argv[1:])
