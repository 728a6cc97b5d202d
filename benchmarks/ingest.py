"""Ingestion benchmark: why a workbook is parsed once per partition, and how short the locked load is.

Measured side by side in one run, on the bundled samples of one round (ten countries):
  A. parse once per partition and split into all tables (what submission_file does);
  V. the expectation suites on the parsed tables (also submission_file's, outside the lock), run by DuckDB
     (the pipeline's engine) and, beside it, by Great Expectations itself (the reference engine);
  B. load the workbook once per table (what one asset per table reading its own sheet would do);
  C. the warehouse load of the staged Parquet with the SQL rules and the verdict, one transaction per
     partition (the only part done inside the DuckDB pool).
Usage: uv run python benchmarks/ingest.py [--round 2024]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import write_section  # noqa: E402

from ilms_dagster.checks import record, run_expectations, validate_submission
from ilms_dagster.intake.submissions import StagedSubmission, archive, stage
from ilms_dagster.questionnaire.samples import ensure_samples, sample_path
from ilms_dagster.questionnaire.workbook import SubmissionError, parse_workbook
from ilms_dagster.registry import REPORTING_COUNTRIES, ROUNDS, TABLES
from ilms_dagster.resources import IlmsStorage
from ilms_dagster.resources.warehouse import ensure_schema, replace_partition, transaction


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--round", default=ROUNDS[-1])
    round_ = parser.parse_args().round
    with tempfile.TemporaryDirectory() as tmp:
        storage = IlmsStorage(data_dir=tmp, inbox_dir=str(Path(tmp) / "inbox"))
        ensure_samples(storage.samples, rounds=[round_])
        files = {c: sample_path(storage.samples, c, round_) for c in REPORTING_COUNTRIES}

        started = time.perf_counter()
        for country, path in files.items():
            stage(storage, round_, country, archive(storage, path))
        once = time.perf_counter() - started

        tables = {c: parse_workbook(path, c, round_).tables for c, path in files.items()}
        timings = {}
        for engine in ("duckdb", "gx"):
            run_expectations(tables[next(iter(tables))], round_, engine=engine)  # imports (GX: seconds) first
            started = time.perf_counter()
            for parsed in tables.values():
                run_expectations(parsed, round_, engine=engine)
            timings[engine] = time.perf_counter() - started
        suites, suites_gx = timings["duckdb"], timings["gx"]
        for country, path in files.items():
            stage(storage, round_, country, archive(storage, path), expectations=run_expectations)

        started = time.perf_counter()
        for country, path in files.items():
            for table in TABLES.values():
                try:  # a table the country does not report is a workbook without values: rejected, read all the same
                    parse_workbook(path, country, round_, tables=[table])
                except SubmissionError:
                    pass
        per_table = time.perf_counter() - started

        with duckdb.connect(str(Path(tmp) / "warehouse.duckdb")) as conn:
            ensure_schema(conn)
            started = time.perf_counter()
            for country in files:
                staged = StagedSubmission.load(storage, round_, country)
                with transaction(conn):
                    replace_partition(conn, round_, country, staged.parquet_by_table, staged.submission)
                    record(conn, validate_submission(conn, staged))
            load = time.perf_counter() - started
            values = sum(conn.execute(f"SELECT count(*) FROM ilmq.{t}").fetchone()[0] for t in TABLES)

    n = len(files)
    lines = [f"round {round_}: {n} submissions, {len(TABLES)} tables, {values} values"]
    lines += [
        f"A parse once per partition + stage : {once:7.2f} s  ({once / n:.3f} s/partition)",
        f"B load the workbook once per table : {per_table:7.2f} s  ({per_table / n:.3f} s/partition)",
        f"V expectation suites, DuckDB engine: {suites:7.2f} s  ({suites / n:.3f} s/partition)",
        f"V' the same suites, GX engine      : {suites_gx:7.2f} s  ({suites_gx / n:.3f} s/partition)",
        f"C locked load + SQL rules + verdict: {load:7.2f} s  ({load / n:.3f} s/partition)",
    ]
    total = once + suites + load
    lines.append(
        f"B/A = {per_table / once:.1f}x slower; V'/V = {suites_gx / suites:.0f}x; the lock is held for "
        f"{load / total:.0%} of the ingest time"
    )
    print("\n".join(lines))
    write_section("ingest", "```\n" + "\n".join(lines) + "\n```")


if __name__ == "__main__":
    main()
