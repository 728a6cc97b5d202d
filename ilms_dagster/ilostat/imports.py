"""Published ILOSTAT data in: bulk CSV files read by DuckDB, loaded as the oldest vintage of the ILMQ tables.

An ILOSTAT bulk CSV (columns by name: ref_area, source, indicator, sex, classif1, classif2, time, obs_value,
obs_status, note_classif, note_indicator, note_source; only ref_area, indicator, sex, time and obs_value are
required; `*.label` columns are ignored; plain or gzip) is read with DuckDB's CSV reader. Its rows of an
indicator of the registry (`TableSpec.indicators`) whose sex, classif1 and classif2 codes are in the
registry's code lists for that indicator are stored in `ilmq.<table>`, in the tables' long format, with

- `round` = PUBLISHED_ROUND (0): the published vintage sorts before every collection round, so
  `staging.latest` takes any round's submitted value over a published one;
- `submission_sha256` = the file's sha256, recorded in `raw.ilostat_imports` (file name, rows, when it was
  published, if given, and first imported) - how the models tell published rows from submitted ones;
- `source` from the file, else 'ILOSTAT'; `obs_status` carried; the three notes carried in `note` as
  `note_classif: ... | note_indicator: ... | note_source: ...` (split back on export);
- `cell` = `<file name>:<line>`, the line of the row in the file (the header is line 1).

Rows of other indicators, and rows with a code outside the registry's lists (or a non-annual `time`), are
not loaded but counted by code, in the report and in `raw.ilostat_skipped`. A published value replaces the
published value of the same key from an earlier import (the latest import wins; a key holds one published
value). Importing files is one transaction: all of them land, or nothing does; the same file twice gives
the same warehouse. This module knows nothing of Dagster (`assets/ilostat.py` and `cli.py` wrap it).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from ilms_dagster.questionnaire.annotations import NOTE_FIELDS, join_notes
from ilms_dagster.registry import MIGRATORY_STATUS, SEX, TABLES, TableSpec

PUBLISHED_ROUND = 0
DEFAULT_SOURCE = "ILOSTAT"
COLUMNS = (
    "ref_area",
    "source",
    "indicator",
    "sex",
    "classif1",
    "classif2",
    "time",
    "obs_value",
    "obs_status",
    "note_classif",
    "note_indicator",
    "note_source",
)
REQUIRED = ("ref_area", "indicator", "sex", "time", "obs_value")
KEY = ("ref_area", "indicator", "sex", "classif1", "classif2", "time")
IMPORTS_DDL = [
    """CREATE TABLE IF NOT EXISTS raw.ilostat_imports (
    sha256 VARCHAR PRIMARY KEY, file_name VARCHAR NOT NULL, rows_read INTEGER NOT NULL, rows_loaded INTEGER NOT NULL,
    rows_other_indicators INTEGER NOT NULL, rows_unknown_codes INTEGER NOT NULL, published DATE,
    imported_at TIMESTAMP NOT NULL DEFAULT current_timestamp
)""",
    """CREATE TABLE IF NOT EXISTS raw.ilostat_skipped (
    sha256 VARCHAR NOT NULL, indicator VARCHAR NOT NULL, reason VARCHAR NOT NULL, dimension VARCHAR,
    code VARCHAR, rows INTEGER NOT NULL, first_line INTEGER NOT NULL
)""",
]


class IlostatError(ValueError):
    """A file that cannot be imported; the message names file, line, column and value."""


def _indicator_codes() -> dict[str, tuple[TableSpec, dict[str, set[str]]]]:
    """indicator -> (its ILMQ table, the codes each dimension may hold), from the registry."""
    out = {}
    for table in TABLES.values():
        bases = table.bases or (None,)
        for basis, indicator in zip(bases, table.indicators, strict=True):
            classif2 = set(MIGRATORY_STATUS[basis]) if basis else {""}
            out[indicator] = (table, {"sex": set(SEX), "classif1": set(table.codes), "classif2": classif2})
    return out


INDICATORS = _indicator_codes()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class ParsedFile:
    """One file read and sorted: the rows to load (by ILMQ table) and what was not loaded, by code."""

    path: Path
    sha256: str
    rows_read: int
    rows: dict[str, pd.DataFrame]  # table id -> rows in the ilmq long format
    other_indicators: Counter = field(default_factory=Counter)  # indicator -> rows
    unknown_codes: Counter = field(default_factory=Counter)  # (indicator, dimension, code) -> rows
    first_lines: dict[tuple, int] = field(default_factory=dict)  # skipped key -> first line
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def rows_loaded(self) -> int:
        return sum(len(f) for f in self.rows.values())

    def loaded_by(self, *columns: str) -> Counter:
        """Rows loaded counted by the given columns (e.g. 'indicator', 'time')."""
        counts: Counter = Counter()
        for frame in self.rows.values():
            counts.update(frame.groupby(list(columns), dropna=False).size().to_dict())
        return counts


def read_file(path: Path, conn: duckdb.DuckDBPyConnection | None = None) -> ParsedFile:
    """Read one ILOSTAT bulk CSV (plain or .gz) with DuckDB and sort its rows; IlostatError if unreadable."""
    path = Path(path)
    own = conn is None
    conn = conn or duckdb.connect()
    try:
        frame = conn.execute(
            "SELECT * FROM read_csv(?, header = true, all_varchar = true, auto_detect = true,"
            " compression = 'auto', null_padding = false)",
            [str(path)],
        ).df()
    except duckdb.Error as exc:
        raise IlostatError(f"{path}: not a readable CSV file: {exc}") from None
    finally:
        if own:
            conn.close()
    frame.columns = [c.strip().lower() for c in frame.columns]
    ignored = [c for c in frame.columns if c not in COLUMNS and not c.endswith(".label")]
    if missing := [c for c in REQUIRED if c not in frame.columns]:
        raise IlostatError(
            f"{path}: line 1: missing column(s) {', '.join(missing)} (ILOSTAT bulk CSV columns by "
            f"name: {', '.join(COLUMNS)})"
        )
    frame = frame.reindex(columns=list(COLUMNS))
    frame = frame.astype("object").where(frame.notna(), None)
    for column in COLUMNS:  # trimmed text, empty = missing
        frame[column] = [v.strip() or None if isinstance(v, str) else None for v in frame[column]]
    frame["line"] = range(2, len(frame) + 2)
    return _sort_rows(path, frame, ignored)


def _sort_rows(path: Path, frame: pd.DataFrame, ignored: list[str]) -> ParsedFile:
    parsed = ParsedFile(path, sha256_file(path), len(frame), {}, ignored_columns=ignored)
    for column in ("ref_area", "indicator", "sex", "time"):
        if (empty := frame[frame[column].isna()]).shape[0]:
            raise IlostatError(
                f"{path}: line {empty.line.iloc[0]}, column {column}: empty ({len(empty)} row(s) without a {column})"
            )
    keep = []
    for indicator, rows in frame.groupby("indicator", sort=True):
        if indicator not in INDICATORS:
            parsed.other_indicators[indicator] = len(rows)
            parsed.first_lines[(indicator, "indicator", indicator)] = int(rows.line.min())
            continue
        table, codes = INDICATORS[indicator]
        bad = pd.Series(False, index=rows.index)
        checks = [(d, rows[d].fillna("").isin(codes[d])) for d in ("sex", "classif1", "classif2")]
        checks.append(("time", rows["time"].str.fullmatch(r"\d{4}")))
        for dimension, ok in checks:
            for code, lines in rows.loc[~ok & ~bad, [dimension, "line"]].groupby(dimension, dropna=False).line:
                key = (indicator, dimension, "" if pd.isna(code) else str(code))
                parsed.unknown_codes[key] += len(lines)
                parsed.first_lines[key] = min(parsed.first_lines.get(key, 1 << 62), int(lines.min()))
            bad |= ~ok
        keep.append(rows[~bad].assign(table_id=table.id))
    if keep and (rows := pd.concat(keep)).shape[0]:
        for table_id, of_table in rows.groupby("table_id", sort=True):
            parsed.rows[table_id] = _long_format(path, parsed.sha256, of_table)
    return parsed


def _long_format(path: Path, sha256: str, rows: pd.DataFrame) -> pd.DataFrame:
    values = pd.to_numeric(rows["obs_value"], errors="coerce")
    if (bad := rows[values.isna() & rows["obs_value"].notna()]).shape[0]:
        raise IlostatError(
            f"{path}: line {bad.line.iloc[0]}, column obs_value: {bad.obs_value.iloc[0]!r} is not a "
            f"number ({len(bad)} such row(s))"
        )
    dup = rows[rows.duplicated(list(KEY), keep=False)].sort_values("line")
    if len(dup):
        first = dup.iloc[0]
        lines = dup[(dup[list(KEY)].fillna("") == first[list(KEY)].fillna("")).all(axis=1)].line.tolist()
        raise IlostatError(
            f"{path}: lines {', '.join(map(str, lines))}: the same observation twice ("
            + ", ".join(f"{k}={first[k] or ''}" for k in KEY)
            + "); one value per key and file"
        )
    notes = [
        join_notes(dict(zip(NOTE_FIELDS, n, strict=True))) for n in rows[list(NOTE_FIELDS)].itertuples(index=False)
    ]
    return pd.DataFrame(
        {
            "ref_area": rows["ref_area"].str.upper().to_numpy(),
            "round": PUBLISHED_ROUND,
            "indicator": rows["indicator"].to_numpy(),
            "source": rows["source"].fillna(DEFAULT_SOURCE).to_numpy(),
            "sex": rows["sex"].to_numpy(),
            "classif1": rows["classif1"].to_numpy(),
            "classif2": rows["classif2"].to_numpy(),
            "time": rows["time"].astype(int).to_numpy(),
            "obs_value": values.to_numpy(dtype=float),
            "obs_status": rows["obs_status"].to_numpy(),
            "note": [
                n if v is not None else (n or "not available") for n, v in zip(notes, rows["obs_value"], strict=True)
            ],
            "cell": [f"{path.name}:{line}" for line in rows["line"]],
            "submission_sha256": sha256,
        }
    )


def ensure_import_schema(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("CREATE SCHEMA IF NOT EXISTS raw")
    for ddl in IMPORTS_DDL:
        conn.execute(ddl)


def load(conn: duckdb.DuckDBPyConnection, files: Iterable[ParsedFile], published: date | None = None) -> None:
    """Write parsed files into the warehouse (call inside one transaction): for each file in turn, its rows
    replace its own earlier rows and any published value of the same keys; its import and skips are recorded."""
    for parsed in files:
        conn.execute("DELETE FROM raw.ilostat_skipped WHERE sha256 = ?", [parsed.sha256])
        conn.execute(
            "INSERT INTO raw.ilostat_imports (sha256, file_name, rows_read, rows_loaded, rows_other_indicators,"
            " rows_unknown_codes, published) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [
                parsed.sha256,
                parsed.path.name,
                parsed.rows_read,
                parsed.rows_loaded,
                sum(parsed.other_indicators.values()),
                sum(parsed.unknown_codes.values()),
                published,
            ],
        )
        skipped = [
            (parsed.sha256, ind, "other indicator", None, None, n, parsed.first_lines[(ind, "indicator", ind)])
            for ind, n in sorted(parsed.other_indicators.items())
        ]
        skipped += [
            (parsed.sha256, ind, "unknown code", dim, code, n, parsed.first_lines[(ind, dim, code)])
            for (ind, dim, code), n in sorted(parsed.unknown_codes.items())
        ]
        if skipped:
            conn.executemany("INSERT INTO raw.ilostat_skipped VALUES (?, ?, ?, ?, ?, ?, ?)", skipped)
        for table in TABLES:  # rows of this file loaded before, in tables it no longer fills
            if table not in parsed.rows:
                conn.execute(f"DELETE FROM ilmq.{table} WHERE submission_sha256 = ?", [parsed.sha256])
        for table_id, frame in parsed.rows.items():
            conn.register("_published", frame)
            try:
                conn.execute(
                    f"DELETE FROM ilmq.{table_id} AS t WHERE t.submission_sha256 = ? OR (t.round = ? AND EXISTS ("
                    "SELECT 1 FROM _published AS p WHERE p.ref_area = t.ref_area AND p.indicator = t.indicator"
                    " AND p.sex = t.sex AND p.classif1 IS NOT DISTINCT FROM t.classif1"
                    " AND p.classif2 IS NOT DISTINCT FROM t.classif2 AND p.time = t.time))",
                    [parsed.sha256, PUBLISHED_ROUND],
                )
                conn.execute(f"INSERT INTO ilmq.{table_id} BY NAME SELECT * FROM _published")
            finally:
                conn.unregister("_published")


def report_lines(files: Iterable[ParsedFile]) -> list[str]:
    """What an import did, file by file: rows loaded by indicator and table, and every skip by code."""
    lines = []
    for f in files:
        lines.append(
            f"{f.path.name} (sha256 {f.sha256[:12]}): {f.rows_read} rows read, {f.rows_loaded} loaded, "
            f"{sum(f.other_indicators.values())} of other indicators, "
            f"{sum(f.unknown_codes.values())} with unknown codes"
        )
        by_indicator = f.loaded_by("indicator")
        for table_id, frame in f.rows.items():
            for indicator in sorted(frame.indicator.unique()):
                years = sorted(frame[frame.indicator == indicator].time.unique())
                lines.append(
                    f"  loaded {indicator} -> ilmq.{table_id}: {by_indicator[indicator]} rows, "
                    f"{len(years)} year(s) {years[0]}-{years[-1]}"
                )
        for indicator, n in sorted(f.other_indicators.items()):
            lines.append(
                f"  not loaded: indicator {indicator} is in no ILMQ table: {n} rows "
                f"(first at line {f.first_lines[(indicator, 'indicator', indicator)]})"
            )
        for (indicator, dimension, code), n in sorted(f.unknown_codes.items()):
            lines.append(
                f"  not loaded: {indicator} {dimension} {code or '(empty)'!s} is not in the registry's "
                f"code list: {n} rows (first at line {f.first_lines[(indicator, dimension, code)]})"
            )
        if f.ignored_columns:
            lines.append(f"  ignored column(s): {', '.join(f.ignored_columns)}")
    return lines


def read_files(paths: Iterable[Path]) -> list[ParsedFile]:
    """Read every file before any is written: one that cannot be imported stops them all (IlostatError)."""
    return [read_file(Path(p)) for p in paths]


def write_files(conn: duckdb.DuckDBPyConnection, parsed: list[ParsedFile], published: date | None = None) -> None:
    """Load read files in one transaction: all of them land, or nothing does."""
    from ilms_dagster.resources.warehouse import ensure_schema, transaction

    ensure_schema(conn)
    with transaction(conn):
        load(conn, parsed, published)


def import_files(
    conn: duckdb.DuckDBPyConnection, paths: Iterable[Path], published: date | None = None
) -> list[ParsedFile]:
    """Read every file (nothing written if one fails), then load all of them in one transaction."""
    parsed = read_files(paths)
    write_files(conn, parsed, published)
    return parsed
