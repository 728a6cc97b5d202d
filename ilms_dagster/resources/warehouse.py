"""The DuckDB warehouse: schema, the one-transaction partition replace, read-only access for analysts.

DuckDB allows one writer per file: every asset or check that writes it runs in WAREHOUSE_POOL, whose
limit is 1 in the shipped dagster.yaml, and opens its connection only for the short load.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster_duckdb import DuckDBResource

from ilms_dagster.ilostat import ensure_import_schema
from ilms_dagster.registry import TABLES
from ilms_dagster.resources.storage import data_dir

WAREHOUSE_POOL = "duckdb_warehouse"

_TIDY_DDL = """
    ref_area VARCHAR NOT NULL, round INTEGER NOT NULL, indicator VARCHAR NOT NULL, source VARCHAR,
    sex VARCHAR NOT NULL, classif1 VARCHAR, classif2 VARCHAR, time INTEGER NOT NULL, obs_value DOUBLE,
    obs_status VARCHAR, note VARCHAR, cell VARCHAR, submission_sha256 VARCHAR NOT NULL
"""
SUBMISSIONS_DDL = """
CREATE TABLE IF NOT EXISTS raw.submissions (
    sha256 VARCHAR NOT NULL, round INTEGER NOT NULL, ref_area VARCHAR NOT NULL, original_name VARCHAR NOT NULL,
    size_bytes BIGINT NOT NULL, received_at TIMESTAMP NOT NULL, archive_path VARCHAR NOT NULL,
    template_version VARCHAR, submission_date DATE, focal_point VARCHAR, institution VARCHAR,
    loaded_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (sha256, round, ref_area)
)"""
# Written by the checks (ilms_dagster/checks), read by the models: the latest partition_status row of a
# partition decides whether it feeds them (errors = 0 for the submission loaded).
VALIDATION_DDL = [
    """CREATE TABLE IF NOT EXISTS validation.findings (
    round INTEGER NOT NULL, ref_area VARCHAR NOT NULL, submission_sha256 VARCHAR NOT NULL, table_id VARCHAR NOT NULL,
    sheet VARCHAR NOT NULL, cell VARCHAR, check_name VARCHAR NOT NULL, rule VARCHAR NOT NULL, severity VARCHAR NOT NULL,
    expected VARCHAR, found VARCHAR, message VARCHAR NOT NULL, checked_at TIMESTAMP NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS validation.partition_status (
    round INTEGER, ref_area VARCHAR, submission_sha256 VARCHAR, errors INTEGER, warnings INTEGER,
    checked_at TIMESTAMP
)""",
]


def warehouse_path() -> Path:
    return Path(os.environ.get("ILMS_WAREHOUSE") or data_dir() / "warehouse.duckdb")


def default_warehouse() -> DuckDBResource:
    path = warehouse_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return DuckDBResource(database=str(path))


def ensure_schema(conn: duckdb.DuckDBPyConnection) -> None:
    """Create the raw, ilmq and validation schemas and tables if missing (idempotent)."""
    for schema in ("raw", "ilmq", "validation"):
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    conn.execute(SUBMISSIONS_DDL)
    for ddl in VALIDATION_DDL:
        conn.execute(ddl)
    for table in TABLES.values():
        conn.execute(f"CREATE TABLE IF NOT EXISTS ilmq.{table.id} ({_TIDY_DDL})")
    ensure_import_schema(conn)  # raw.ilostat_imports / raw.ilostat_skipped: published vintages (ilostat.py)


def replace_partition(
    conn: duckdb.DuckDBPyConnection,
    round_: str,
    country: str,
    parquet_by_table: Mapping[str, Path],
    submission: Mapping[str, object],
) -> dict[str, int]:
    """Replace exactly one round x country partition of the given tables, and record the submission.
    Call it inside `transaction(conn)`, with the partition's validation, so that all of it lands or
    nothing does. Returns rows per table."""
    rows = {}
    conn.execute(
        "INSERT INTO raw.submissions (sha256, round, ref_area, original_name, size_bytes, received_at, archive_path,"
        " template_version, submission_date, focal_point, institution)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [submission[k] for k in ("sha256", "round", "ref_area", "original_name", "size_bytes", "received_at",
                                 "archive_path", "template_version", "submission_date", "focal_point",
                                 "institution")],  # fmt: skip
    )
    for table_id, parquet in parquet_by_table.items():
        conn.execute(f"DELETE FROM ilmq.{table_id} WHERE round = ? AND ref_area = ?", [int(round_), country])
        conn.execute(f"INSERT INTO ilmq.{table_id} BY NAME SELECT * FROM read_parquet(?)", [str(parquet)])
        rows[table_id] = conn.execute(
            f"SELECT count(*) FROM ilmq.{table_id} WHERE round = ? AND ref_area = ?", [int(round_), country]
        ).fetchone()[0]
    return rows


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """One transaction: committed if the block succeeds, rolled back (warehouse unchanged) if not."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def connect_read_only(path: Path | None = None) -> duckdb.DuckDBPyConnection:
    """How analysts (and tests) open the warehouse: read-only, so they never block the writer."""
    return duckdb.connect(str(path or warehouse_path()), read_only=True)


def table_counts(conn: duckdb.DuckDBPyConnection, tables: Iterable[str] | None = None) -> dict[str, int]:
    return {t: conn.execute(f"SELECT count(*) FROM ilmq.{t}").fetchone()[0] for t in tables or TABLES}


def latest_values(conn: duckdb.DuckDBPyConnection, country: str, years: list[int]) -> dict[tuple, float | str]:
    """The most recent vintage of every value the warehouse holds for a country and years, keyed like
    workbook values (table, year, classif1, sex, classif2): used to prefill a template for revision.
    Published ILOSTAT values imported by `ilms import-ilostat` are the vintage of round 0
    (ilostat.PUBLISHED_ROUND), so they are offered where no round reported the value, and the newest
    submitted round wins everywhere else."""
    from ilms_dagster.workbook import MARKER_NOTES

    marker_of = {note: marker for marker, note in MARKER_NOTES.items()}
    values: dict[tuple, float | str] = {}
    for table in TABLES:
        rows = conn.execute(
            f"SELECT time, classif1, sex, classif2, obs_value, note FROM ilmq.{table}"
            " WHERE ref_area = ? AND list_contains(?, time)"
            " QUALIFY row_number() OVER (PARTITION BY indicator, time, classif1, sex, classif2 ORDER BY round DESC) = 1",
            [country, years],
        ).fetchall()
        for time, classif1, sex, classif2, value, note in rows:
            values[(table, time, classif1, sex, classif2)] = value if value is not None else marker_of.get(note, "..")
    return values
