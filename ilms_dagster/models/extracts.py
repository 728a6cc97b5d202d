"""What analysts take out of the warehouse: a mart, a table or a query as a frame with labels beside the codes,
written to CSV, Parquet or Excel. Reads the published read copy only (resources/warehouse.connect_read_only).

Labels: every column holding registry codes (ref_area and partner countries, sex, classif1, classif2) gets a
`<column>_label` column right after it, computed in the query (no pandas: `ilms sql` and `ilms export` start
fast). Excel output is safe against formula injection: a text starting with `=`, `+`, `-` or `@` is written as
text, never as a formula.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb

FORMATS = ("csv", "parquet", "xlsx")
_NAME = re.compile(r"^[a-z_]+\.[a-z_]+$")


class ExportError(ValueError):
    """A mart, table or query that cannot be exported, in plain words."""


def relation_sql(what: str, conn: duckdb.DuckDBPyConnection) -> str:
    """`what` as SQL: a `schema.table` of the warehouse (e.g. marts.flows), or a SELECT/WITH query."""
    text = what.strip().rstrip(";")
    if _NAME.match(text):
        schema, name = text.split(".")
        found = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?", [schema, name]
        ).fetchone()[0]
        if not found:
            known = [
                f"{s}.{t}"
                for s, t in conn.execute(
                    "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema IN ('marts', 'staging')"
                    " ORDER BY 1, 2"
                ).fetchall()
            ]
            raise ExportError(
                f"{text} is not in the warehouse; marts and staging tables: {', '.join(known) or 'none (build the models: ilms run)'}"
            )
        return f"SELECT * FROM {schema}.{name}"
    bare = re.sub(r"(?s)/\*.*?\*/|--[^\n]*", " ", text)  # leading comments do not make it another statement
    if not re.match(r"(?is)^\s*(select|with|from)\b", bare):
        raise ExportError(f"{what!r} is neither a table name (schema.table, e.g. marts.flows) nor a SELECT query")
    return text


def query(conn: duckdb.DuckDBPyConnection, what: str, labels: bool = True) -> Result:
    """The rows of a mart, table or query, with a label column after every column of codes when `labels`."""
    try:
        cursor = conn.execute(labelled_sql(conn, what) if labels else relation_sql(what, conn))
        rows = cursor.fetchall()
    except duckdb.Error as exc:
        raise ExportError(f"the query failed: {str(exc).splitlines()[0]}") from None
    return Result([d[0] for d in cursor.description], rows)


@dataclass
class Result:
    """A query's column names and rows (DuckDB's Python values), without pandas."""

    columns: list[str]
    rows: list[tuple]

    def __len__(self) -> int:
        return len(self.rows)

    def text(self) -> str:
        """The rows as a plain text table: a header line, numbers right-aligned, NULL for a missing value."""
        cells = [[_cell(v) for v in row] for row in self.rows]
        numeric = [
            bool(self.rows) and all(isinstance(row[j], (int, float, Decimal)) or row[j] is None for row in self.rows)
            for j in range(len(self.columns))
        ]
        widths = [max([len(c)] + [len(row[j]) for row in cells]) for j, c in enumerate(self.columns)]

        def line(values: list[str]) -> str:
            return " ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

        return "\n".join([line(list(self.columns)), *(line(row) for row in cells)])


def _cell(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".") if abs(value) < 1e15 else repr(value)
    return str(value)


def labelled_sql(conn: duckdb.DuckDBPyConnection, what: str) -> str:
    """`what` as SQL with a `<column>_label` after every text column whose values are all registry codes (and
    that is not labelled already); the labels of the codes present are written into the query."""
    from ilms_dagster.registry import CODE_LABELS

    text = relation_sql(what, conn)
    try:
        relation = conn.sql(text)
        columns = list(relation.columns)
        texts = [
            c
            for c, t in zip(columns, relation.types)
            if str(t) == "VARCHAR" and not c.endswith("_label") and f"{c}_label" not in columns
        ]
        if not texts or len(set(columns)) != len(columns):
            return text
        present = conn.execute(
            f"SELECT {', '.join(f'list(DISTINCT {_name(c)})' for c in texts)} FROM ({text}) AS q"
        ).fetchone()
    except duckdb.Error as exc:
        raise ExportError(f"the query failed: {str(exc).splitlines()[0]}") from None
    labelled = {c: codes for c, codes in zip(texts, present) if codes and all(v in CODE_LABELS for v in codes)}
    if not labelled:
        return text
    select = []
    for c in columns:
        select.append(_name(c))
        if c in labelled:
            cases = " ".join(f"WHEN {_literal(v)} THEN {_literal(CODE_LABELS[v])}" for v in sorted(labelled[c]))
            select.append(f"CASE {_name(c)} {cases} END AS {_name(f'{c}_label')}")
    return f"SELECT {', '.join(select)} FROM ({text}) AS q"


def _name(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def write(conn: duckdb.DuckDBPyConnection, sql: str, path: Path, fmt: str | None = None) -> tuple[Path, int, int]:
    """Write the result of `sql` atomically (a temporary file renamed), in the format of `fmt` or of the file's
    suffix: CSV and Parquet by DuckDB, Excel by openpyxl. Returns the path, rows and columns written."""
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise ExportError(f"{path}: format {fmt!r} is not one of {', '.join(FORMATS)} (give --format or a suffix)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        if fmt == "xlsx":
            cursor = conn.execute(sql)
            result = Result([d[0] for d in cursor.description], cursor.fetchall())
            _write_xlsx(result, tmp)
            size = (len(result.rows), len(result.columns))
        else:
            options = "FORMAT csv, HEADER" if fmt == "csv" else "FORMAT parquet"
            (rows,) = conn.execute(f"COPY ({sql}) TO {_literal(str(tmp))} ({options})").fetchone()
            size = (rows, len(conn.sql(sql).columns))
    except duckdb.Error as exc:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"the query failed: {str(exc).splitlines()[0]}") from None
    os.replace(tmp, path)
    return path, *size


def _write_xlsx(result: Result, path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook(write_only=False)
    ws = wb.active
    ws.title = "data"
    ws.append(list(result.columns))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in result.rows:
        ws.append([float(v) if isinstance(v, Decimal) else v for v in row])
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, str) and cell.value[:1] in ("=", "+", "-", "@"):
                cell.data_type = "s"  # text, never a formula
    ws.freeze_panes = "A2"
    for j, column in enumerate(result.columns, start=1):
        ws.column_dimensions[ws.cell(1, j).column_letter].width = min(60, max(10, len(str(column)) + 2))
    wb.save(path)
