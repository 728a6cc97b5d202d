"""Weighted tabulation of one survey file into every stock table of the registry.

`tabulate(mapping, file)` opens the file in DuckDB, checks that the mapping covers every code found (else
MicrodataError listing the unmapped codes with their counts and labels), builds the weighted leaf cube in one
scan, derives every cell of every stock table from it and applies the thresholds: a cell of fewer than
`suppress_below` sample persons (but some) is suppressed ('x'; then, unless the mapping says
`secondary_suppression: false`, enough other cells that it cannot be recovered from a total, suppression.py),
of fewer than `unreliable_below` or with a coefficient of variation above `max_cv` it gets obs_status U. Values are in thousands of persons (weights
summed), earnings a weighted mean in local currency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from ilms_dagster.microdata import variance
from ilms_dagster.microdata.concepts import CONCEPTS, StockTable, stock_tables, working_age
from ilms_dagster.microdata.mapping import Mapping, MicrodataError
from ilms_dagster.microdata.readers import Survey, open_survey
from ilms_dagster.microdata.sql import (
    CUBE_DIMENSIONS,
    UNMAPPED,
    cells_sql,
    cube_sql,
    leaf_sql,
    members_frame,
    person_sql,
    q,
)
from ilms_dagster.microdata.suppression import secondary_suppression

CELL_COLUMNS = [
    "table_id",
    "indicator",
    "time",
    "sex",
    "classif1",
    "classif2",
    "n_obs",
    "estimate",
    "obs_value",
    "obs_status",
    "suppression",
    "se",
    "cv",
]


@dataclass
class Tabulation:
    """The tabulated cells of one survey file (CELL_COLUMNS, registry order) and what was left out."""

    mapping: Mapping
    file: Path
    year: int
    cells: pd.DataFrame
    persons: int
    skipped: dict[str, str] = field(default_factory=dict)  # table id -> why it was not tabulated
    notes: list[str] = field(default_factory=list)

    @property
    def tables(self) -> list[str]:
        return list(dict.fromkeys(self.cells["table_id"]))


def tabulatable(mapping: Mapping) -> tuple[list[StockTable], dict[str, str]]:
    """The stock tables the mapping has the variables for, and why the others are skipped."""
    out, skipped = [], {}
    for st in stock_tables():
        needs = [c for c in (st.concept, st.variable, "status_in_employment" if st.status_in_employment else None) if c]
        if missing := [c for c in needs if c not in mapping.variables]:
            skipped[st.table.id] = f"variables.{', '.join(missing)} not mapped in {mapping.path.name}"
        else:
            out.append(st)
    return out, skipped


def connect(threads: int | None = None, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    if threads:
        conn.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        conn.execute(f"SET memory_limit = '{memory_limit}'")
    return conn


def check(
    mapping: Mapping, file: str | Path, conn: duckdb.DuckDBPyConnection | None = None
) -> tuple[Survey, pd.DataFrame]:
    """Open the file and check the mapping covers it; return the survey and its leaf cube (MicrodataError
    otherwise, listing every unmapped code with its count and label, and every missing variable)."""
    conn = conn or connect()
    survey = open_survey(conn, file, mapping.columns())
    person = person_sql(mapping, survey)
    cube = conn.execute(cube_sql(person)).df()
    problems = unmapped_problems(conn, mapping, survey, cube)
    if problems:
        raise MicrodataError(file, problems)
    return survey, cube


def unmapped_problems(conn, mapping: Mapping, survey: Survey, cube: pd.DataFrame) -> list[str]:
    problems = []
    v = mapping.variables
    lfs = leaf_sql(v["labour_force_status"], survey, mapping.country)
    age = q(v["age"].variable)
    for concept in CUBE_DIMENSIONS:
        if concept not in v or not (cube[concept] == UNMAPPED).any():
            continue
        var = v[concept]
        expr = f"CAST({q(var.variable)} AS DOUBLE)" if concept == "age" else leaf_sql(var, survey, mapping.country)
        cond = f"{age} IS NULL OR NOT ({age} >= 0)" if concept == "age" else f"{expr} = {UNMAPPED}"
        universe = f"({age} >= {working_age()} OR {age} IS NULL)"
        if CONCEPTS[concept]["universe"] == "employed":
            universe += f" AND {lfs} = 0"
        rows = conn.execute(
            f"SELECT {q(var.variable)} AS code, count(*) AS n FROM {survey.name} WHERE {universe} AND ({cond})"
            f" GROUP BY 1 ORDER BY n DESC, CAST(code AS VARCHAR) LIMIT 30"
        ).fetchall()
        total = int(cube.loc[cube[concept] == UNMAPPED, "n"].sum())
        listed = "; ".join(f"{_show(code)}{_label(survey, var.variable, code)} ({n:,} records)" for code, n in rows)
        whom = "employed persons" if CONCEPTS[concept]["universe"] == "employed" else f"persons aged {working_age()}+"
        hint = (
            "an age in completed years"
            if concept == "age"
            else f"map them in {mapping.path.name} under variables.{concept}.codes (or missing:/other:)"
        )
        problems.append(
            f"variable {var.variable!r} ({concept}): {total:,} records of {whom} with unmapped codes: {listed}; {hint}"
        )
    for check_name, what in (
        ("bad_weight", f"weight {mapping.weight!r}: missing, zero or negative"),
        ("bad_earnings", "earnings: negative"),
        ("bad_hours", "hours: outside 0-168"),
    ):
        if (bad := int(cube[check_name].sum())) > 0:
            problems.append(f"variable {what} for {bad:,} records")
    return problems


def _show(code) -> str:
    if code is None or (isinstance(code, float) and code != code):
        return "<empty>"
    if isinstance(code, float) and code.is_integer():
        return str(int(code))
    return repr(code) if isinstance(code, str) else str(code)


def _label(survey: Survey, variable: str, code) -> str:
    label = survey.label(variable, code)
    return f" {label!r}" if label else ""


def tabulate(
    mapping: Mapping,
    file: str | Path,
    year: int | None = None,
    conn: duckdb.DuckDBPyConnection | None = None,
    design: bool = True,
) -> Tabulation:
    """Every stock table the mapping allows, from one survey file (see the module's docstring)."""
    conn = conn or connect()
    file = Path(file)
    year = year or mapping.year_of(file)
    survey, cube = check(mapping, file, conn)
    tables, skipped = tabulatable(mapping)
    conn.register("members", members_frame())
    conn.register("leaf_cube", cube)
    try:
        cells = conn.execute(cells_sql(tables, "leaf_cube")).df()
    finally:
        conn.unregister("leaf_cube")
    notes = []
    errors = None
    if design and mapping.has_design:
        errors, notes = variance.standard_errors(conn, person_sql(mapping, survey, design=True), tables)
    conn.unregister("members")
    frame = _finish(cells, tables, year, mapping.thresholds, errors)
    frame = (
        secondary_suppression(frame)
        if mapping.secondary_suppression
        else frame.assign(suppression=["primary" if s == "x" else "" for s in frame.obs_status])
    )
    frame = frame[CELL_COLUMNS]
    return Tabulation(mapping, file, year, frame, int(cube["n"].sum()), skipped, notes)


def _finish(
    cells: pd.DataFrame, tables: list[StockTable], year: int, thresholds: dict, errors: pd.DataFrame | None
) -> pd.DataFrame:
    """Every cell of the tables in template order (cells with nobody are zeros), values and flags."""
    keys = ["table_id", "sex", "classif1", "classif2"]
    found = {tuple(r[k] for k in keys): r for r in cells.to_dict("records")}
    se = {} if errors is None else {tuple(r[k] for k in keys): r["se"] for r in errors.to_dict("records")}
    rows = []
    for st in tables:
        t = st.table
        for classif1 in t.categories:
            for column in t.columns:
                key = (t.id, column.sex, classif1, column.classif2)
                r = found.get(key, {})
                n = int(r.get("n") or 0)
                if st.statistic == "mean":
                    den = r.get("earn_den")
                    n = int(r.get("n_earn") or 0)
                    estimate = round(float(r["earn_num"]) / float(den) / 100, 2) if n and den else None
                else:
                    estimate = round(int(r.get("wm") or 0) / 1e6, 6)
                std_err = se.get(key)
                cv = (std_err / estimate) if std_err is not None and estimate else None
                status, value = "", estimate
                if estimate is None:
                    status = ""
                elif 0 < n < thresholds["suppress_below"]:
                    status, value = "x", None
                elif 0 < n < thresholds["unreliable_below"] or (cv is not None and cv > thresholds["max_cv"]):
                    status = "U"
                rows.append(
                    (
                        t.id,
                        column.indicator,
                        year,
                        column.sex,
                        classif1,
                        column.classif2,
                        n,
                        estimate,
                        value,
                        status,
                        None if std_err is None else round(std_err, 6),
                        None if cv is None else round(cv, 4),
                    )
                )
    return pd.DataFrame(rows, columns=[c for c in CELL_COLUMNS if c != "suppression"])
