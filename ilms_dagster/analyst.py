"""What analysts take out of the warehouse: a mart, a table or a query as a frame with labels beside the codes,
written to CSV, Parquet or Excel. Reads the published read copy only (resources/warehouse.connect_read_only).

Labels: every column holding registry codes (ref_area and partner countries, sex, classif1, classif2) gets a
`<column>_label` column right after it. Excel output is safe against formula injection: a text starting with
`=`, `+`, `-` or `@` is written as text, never as a formula.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import duckdb
import pandas as pd

from ilms_dagster.registry import CODE_LABELS

FORMATS = ("csv", "parquet", "xlsx")
_NAME = re.compile(r"^[a-z_]+\.[a-z_]+$")


class ExportError(ValueError):
    """A mart, table or query that cannot be exported, in plain words."""


def relation_sql(what: str, conn: duckdb.DuckDBPyConnection) -> str:
    """`what` as SQL: a `schema.table` of the warehouse (e.g. marts.flows), or a SELECT/WITH query."""
    text = what.strip().rstrip(";")
    if _NAME.match(text):
        schema, name = text.split(".")
        found = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                             [schema, name]).fetchone()[0]  # fmt: skip
        if not found:
            known = [f"{s}.{t}" for s, t in conn.execute(
                "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema IN ('marts', 'staging')"
                " ORDER BY 1, 2").fetchall()]  # fmt: skip
            raise ExportError(f"{text} is not in the warehouse; marts and staging tables: {', '.join(known) or 'none (build the models: ilms run)'}")
        return f"SELECT * FROM {schema}.{name}"
    bare = re.sub(r"(?s)/\*.*?\*/|--[^\n]*", " ", text)  # leading comments do not make it another statement
    if not re.match(r"(?is)^\s*(select|with|from)\b", bare):
        raise ExportError(f"{what!r} is neither a table name (schema.table, e.g. marts.flows) nor a SELECT query")
    return text


def query(conn: duckdb.DuckDBPyConnection, what: str, labels: bool = True) -> pd.DataFrame:
    try:
        frame = conn.execute(relation_sql(what, conn)).df()
    except duckdb.Error as exc:
        raise ExportError(f"the query failed: {str(exc).splitlines()[0]}") from None
    return with_labels(frame) if labels else frame


def with_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """A `<column>_label` after every text column whose values are registry codes (and not already labelled)."""
    out = frame.copy()
    for column in list(frame.columns):
        if column.endswith("_label") or f"{column}_label" in frame.columns or frame[column].dtype.kind not in "OU" \
                and str(frame[column].dtype) != "string":  # fmt: skip
            continue
        values = frame[column].dropna()
        if values.empty or not values.map(lambda v: isinstance(v, str) and v in CODE_LABELS).all():
            continue
        out.insert(out.columns.get_loc(column) + 1, f"{column}_label", frame[column].map(CODE_LABELS.get))
    return out


def write(frame: pd.DataFrame, path: Path, fmt: str | None = None) -> Path:
    """Write atomically (a temporary file renamed), in the format of `fmt` or of the file's suffix."""
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise ExportError(f"{path}: format {fmt!r} is not one of {', '.join(FORMATS)} (give --format or a suffix)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    if fmt == "csv":
        frame.to_csv(tmp, index=False)
    elif fmt == "parquet":
        frame.to_parquet(tmp, index=False)
    else:
        _write_xlsx(frame, tmp)
    os.replace(tmp, path)
    return path


def _write_xlsx(frame: pd.DataFrame, path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook(write_only=False)
    ws = wb.active
    ws.title = "data"
    ws.append(list(frame.columns))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in frame.astype(object).where(frame.notna(), None).itertuples(index=False, name=None):
        ws.append(list(row))
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, str) and cell.value[:1] in ("=", "+", "-", "@"):
                cell.data_type = "s"  # text, never a formula
    ws.freeze_panes = "A2"
    for j, column in enumerate(frame.columns, start=1):
        ws.column_dimensions[ws.cell(1, j).column_letter].width = min(60, max(10, len(str(column)) + 2))
    wb.save(path)
