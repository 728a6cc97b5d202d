"""Survey files into DuckDB: CSV and Parquet read by DuckDB itself (streamed, only the mapped columns),
Stata .dta and SPSS .sav by pyreadstat in chunks of rows (value labels kept, for the error messages).

`open_survey` returns the name of a relation holding the mapped variables, whatever the format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ilms_dagster.microdata.mapping import MicrodataError

FORMATS = {".csv": "CSV", ".parquet": "Parquet", ".dta": "Stata", ".sav": "SPSS", ".zsav": "SPSS"}
CHUNK_ROWS = 500_000  # rows per pyreadstat chunk: ~50 MB for 12 float columns


@dataclass
class Survey:
    """A survey file opened in DuckDB: relation `name` with the mapped columns, their DuckDB types and, for
    .dta/.sav, the value labels of each variable (code -> label)."""

    path: Path
    name: str
    types: dict[str, str]
    labels: dict[str, dict] = field(default_factory=dict)

    def label(self, variable: str, code) -> str:
        found = self.labels.get(variable, {})
        for key in (code, _as_number(code)):
            if key in found:
                return str(found[key])
        return ""


def _as_number(code):
    try:
        return float(code)
    except (TypeError, ValueError):
        return None


def open_survey(
    conn: duckdb.DuckDBPyConnection, path: str | Path, columns: dict[str, str], name: str = "survey"
) -> Survey:
    """Make relation `name` hold `columns` (variable -> what it is for) of the survey file at `path`."""
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise MicrodataError(path, [f"unknown format {path.suffix!r}: expected one of {', '.join(FORMATS)}"])
    if not path.is_file():
        raise MicrodataError(path, ["no such file"])
    if kind in ("CSV", "Parquet"):
        reader = "read_csv" if kind == "CSV" else "read_parquet"
        try:
            found = [r[0] for r in conn.execute(f"DESCRIBE SELECT * FROM {reader}(?)", [str(path)]).fetchall()]
        except duckdb.Error as exc:
            raise MicrodataError(path, [f"not a readable {kind} file ({type(exc).__name__}: {exc})"]) from None
        _check_columns(path, found, columns)
        select = ", ".join(_quote(c) for c in columns)
        conn.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT {select} FROM {reader}('{_literal(path)}')")
        labels: dict[str, dict] = {}
    else:
        labels = _read_with_pyreadstat(conn, path, kind, columns, name)
    types = {r[0]: r[1] for r in conn.execute(f"DESCRIBE {name}").fetchall()}
    return Survey(path, name, types, labels)


def _read_with_pyreadstat(conn, path: Path, kind: str, columns: dict[str, str], name: str) -> dict[str, dict]:
    import pyreadstat

    read = pyreadstat.read_dta if kind == "Stata" else pyreadstat.read_sav
    try:
        _, meta = read(str(path), metadataonly=True)
    except Exception as exc:  # pyreadstat raises its own ReadstatError and others for a non-survey file
        raise MicrodataError(path, [f"not a readable {kind} file ({type(exc).__name__}: {exc})"]) from None
    _check_columns(path, list(meta.column_names), columns)
    wanted = list(columns)
    conn.execute(f"DROP TABLE IF EXISTS {name}")
    conn.execute(f"DROP VIEW IF EXISTS {name}")
    first = True
    # chunks of rows, only the mapped columns: a multi-gigabyte file never sits in memory at once
    for frame, _ in pyreadstat.read_file_in_chunks(read, str(path), chunksize=CHUNK_ROWS, usecols=wanted):
        # numbers as DOUBLE in every chunk: pyreadstat gives an integer variable as int64 in a chunk without
        # missing values and as float64 in one with them, and the first chunk fixes the table's types
        chunk = frame[wanted].astype({c: "float64" for c in wanted if frame[c].dtype.kind in "iub"})  # noqa: F841  (read by DuckDB by name)
        if first:
            conn.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM chunk")
            first = False
        else:
            conn.execute(f"INSERT INTO {name} SELECT * FROM chunk")
    if first:  # no rows at all
        nulls = ", ".join(f"NULL AS {_quote(c)}" for c in wanted)
        conn.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM (SELECT {nulls}) WHERE false")
    return {var: dict(meta.variable_value_labels.get(var, {})) for var in wanted if var in meta.variable_value_labels}


def _check_columns(path: Path, found: list[str], columns: dict[str, str]) -> None:
    missing = [f"variable {var!r} ({what}) is not in the file" for var, what in columns.items() if var not in found]
    if missing:
        shown = ", ".join(found[:40]) + (" ..." if len(found) > 40 else "")
        raise MicrodataError(path, [*missing, f"the file's variables: {shown}"])


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(path: Path) -> str:
    return str(path).replace("'", "''")
