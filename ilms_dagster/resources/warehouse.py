"""The DuckDB warehouse: schema, the one-transaction partition replace, the writer's connection and the
read-only copy analysts use.

DuckDB allows one writer per file, and any other process holding the file (even read-only) blocks it: every
asset or check that writes it runs in WAREHOUSE_POOL (limit 1 in the shipped dagster.yaml), connects through
`connect_writer` (bounded retry, then an error naming the holder's PID) and, after each successful write
(a load, a complete models build), publishes `warehouse_read.duckdb` beside it: a copy swapped in atomically
that analysts, `ilms summary` and `ilms template --prefill` open (`connect_read_only`) for as long as they like.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster_duckdb import DuckDBResource

from ilms_dagster.ilostat.imports import ensure_import_schema
from ilms_dagster.registry import TABLES
from ilms_dagster.resources.locations import connect_read_only, read_copy_path, warehouse_path  # noqa: F401  (re-exported)

WAREHOUSE_POOL = "duckdb_warehouse"
LOCK_WAIT_ENV = "ILMS_LOCK_WAIT_SECONDS"  # how long a writer retries a warehouse held by another process
LOCK_WAIT_DEFAULT = 60.0
# Columns that differ between two identical runs (clock, folder): left out of the content digest.
VOLATILE_COLUMNS = {"archive_path"}

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
    # A finding accepted by a reviewer as a known source inconsistency (ilms_dagster/checks/reviews.py).
    """CREATE TABLE IF NOT EXISTS validation.reviews (
    round INTEGER NOT NULL, ref_area VARCHAR NOT NULL, table_id VARCHAR NOT NULL, rule VARCHAR NOT NULL, cell VARCHAR,
    found VARCHAR, reason VARCHAR NOT NULL, reviewer VARCHAR NOT NULL, reviewed_at TIMESTAMP NOT NULL
)""",
]


class WarehouseLocked(RuntimeError):
    """Another process holds the warehouse file, and kept it past the writer's retries."""


def _holder(message: str) -> str:
    found = re.search(r"Conflicting lock is held in (.*?) \(PID (\d+)\)", message)
    return f"PID {found.group(2)} ({found.group(1)})" if found else "an unknown process"


def connect_writer(path: str | Path, config: Mapping | None = None) -> duckdb.DuckDBPyConnection:
    """The writer's connection. While another process holds the file (DuckDB: "Could not set lock"), retry with
    backoff for ILMS_LOCK_WAIT_SECONDS (default 60), then fail naming the holder's PID."""
    try:
        budget = float(os.environ.get(LOCK_WAIT_ENV) or LOCK_WAIT_DEFAULT)
    except ValueError:
        budget = LOCK_WAIT_DEFAULT
    deadline, delay = time.monotonic() + budget, 0.1
    while True:
        try:
            return duckdb.connect(str(path), read_only=False, config=dict(config or {}))
        except duckdb.IOException as exc:
            if "Could not set lock" not in str(exc):
                raise
            if time.monotonic() + delay > deadline:
                raise WarehouseLocked(
                    f"The warehouse {path} is held by another process, {_holder(str(exc))}, and was still held after "
                    f"{budget:g} s of retries ({LOCK_WAIT_ENV}). Close that program: analysts open the read-only copy "
                    f"{read_copy_path(Path(path))} (`ilms summary`, README: Analysts), never the warehouse itself."
                ) from None
            time.sleep(delay * (1 + random.random() / 2))
            delay = min(delay * 2, 5.0)


class WarehouseResource(DuckDBResource):
    """DuckDBResource whose connection retries a warehouse held by another process (connect_writer)."""

    @contextmanager
    def get_connection(self):
        conn = connect_writer(self.database, {"custom_user_agent": "dagster"} | dict(self.connection_config))
        try:
            yield conn
        finally:
            conn.close()


def default_warehouse() -> WarehouseResource:
    path = warehouse_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return WarehouseResource(database=str(path))


def publish_read_copy(conn: duckdb.DuckDBPyConnection, path: Path | None = None) -> Path:
    """Copy the warehouse, from the writer's own connection (outside any transaction), into a temporary file
    beside it and swap it in as the read copy in one rename: readers holding the previous copy keep it intact,
    new readers get the new one, and nobody ever holds the warehouse itself."""
    (main,) = conn.execute("SELECT current_database()").fetchone()
    path = path or Path(
        conn.execute("SELECT path FROM duckdb_databases() WHERE database_name = ?", [main]).fetchone()[0]
    )
    target = read_copy_path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    conn.execute(f"ATTACH '{tmp}' AS ilms_read_copy")
    try:
        conn.execute(f'COPY FROM DATABASE "{main}" TO ilms_read_copy')
    finally:
        conn.execute("DETACH ilms_read_copy")
    os.replace(tmp, target)
    return target


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
        [
            submission[k]
            for k in (
                "sha256",
                "round",
                "ref_area",
                "original_name",
                "size_bytes",
                "received_at",
                "archive_path",
                "template_version",
                "submission_date",
                "focal_point",
                "institution",
            )
        ],
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


def content_digest(
    conn: duckdb.DuckDBPyConnection, schemas: Iterable[str] = ("raw", "ilmq", "validation", "staging", "marts")
) -> str:
    """A sha256 of the distinct rows of every table of `schemas`, in a fixed order, without the columns that
    differ between identical runs (timestamps, archive paths): equal digests mean the same content. Distinct:
    re-checking a partition appends the same verdict again to `validation.partition_status` (a history), which
    adds no content."""
    digest = hashlib.sha256()
    tables = conn.execute(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
        " AND list_contains(?, table_schema) ORDER BY ALL",
        [list(schemas)],
    ).fetchall()
    for schema, table in tables:
        columns = [
            name
            for name, kind in conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? AND table_name = ?"
                " ORDER BY ordinal_position",
                [schema, table],
            ).fetchall()
            if name not in VOLATILE_COLUMNS and not kind.startswith("TIMESTAMP")
        ]
        digest.update(f"{schema}.{table}({','.join(columns)})".encode())
        if columns:
            select = ", ".join(f'"{c}"' for c in columns)
            for row in conn.execute(f'SELECT DISTINCT {select} FROM "{schema}"."{table}" ORDER BY ALL').fetchall():
                digest.update(repr(row).encode())
    return digest.hexdigest()


def table_counts(conn: duckdb.DuckDBPyConnection, tables: Iterable[str] | None = None) -> dict[str, int]:
    return {t: conn.execute(f"SELECT count(*) FROM ilmq.{t}").fetchone()[0] for t in tables or TABLES}


def latest_values(conn: duckdb.DuckDBPyConnection, country: str, years: list[int]) -> dict[tuple, float | str]:
    """The most recent vintage of every value the warehouse holds for a country and years, keyed like
    workbook values (table, year, classif1, sex, classif2): used to prefill a template for revision.
    Published ILOSTAT values imported by `ilms import-ilostat` are the vintage of round 0
    (ilostat.PUBLISHED_ROUND), so they are offered where no round reported the value, and the newest
    submitted round wins everywhere else."""
    from ilms_dagster.questionnaire.workbook import MARKER_NOTES

    marker_of = {note: marker for marker, note in MARKER_NOTES.items()}
    values: dict[tuple, float | str] = {}
    for table in TABLES:
        rows = conn.execute(
            f"SELECT time, classif1, sex, classif2, obs_value, note FROM ilmq.{table}"
            " WHERE ref_area = ? AND list_contains(?, time)"
            " QUALIFY row_number() OVER (PARTITION BY indicator, time, classif1, sex, classif2 ORDER BY round DESC) = 1",
            [country, years],
        ).fetchall()
        for year, classif1, sex, classif2, value, note in rows:
            values[(table, year, classif1, sex, classif2)] = value if value is not None else marker_of.get(note, "..")
    return values
