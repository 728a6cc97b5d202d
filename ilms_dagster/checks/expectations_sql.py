"""The expectation suites translated to DuckDB SQL: one query per expectation over every table at once.

Each GX expectation type the suites use has a SQL predicate here; its `{"$PARAMETER": name}` kwargs become
columns of a per-table parameter relation (the same `parameters` GX is given), joined to the rows by table.
Findings are built from the expectation's meta exactly as the GX engine builds them, so both engines give
the same findings (tests/checks/test_expectations_engines.py).
"""

from __future__ import annotations

from functools import cache

import duckdb
import pandas as pd
import pyarrow as pa

from ilms_dagster.checks.expectations import _finding, parameters, suites_by_family
from ilms_dagster.checks.findings import FINDING_COLUMNS
from ilms_dagster.registry import TABLES


def _value(kwarg, alias: str = "p") -> str:
    """A kwarg as SQL: a suite parameter is a column of the parameter relation, anything else a literal."""
    if isinstance(kwarg, dict) and set(kwarg) == {"$PARAMETER"}:
        return f'{alias}."{kwarg["$PARAMETER"]}"'
    if isinstance(kwarg, bool):
        return "true" if kwarg else "false"
    if isinstance(kwarg, int | float):
        return repr(kwarg)
    if isinstance(kwarg, list):
        return "[" + ", ".join(_value(v) for v in kwarg) + "]"
    return "'" + str(kwarg).replace("'", "''") + "'"


def _between(kw: dict) -> str:
    col, tests = f'o."{kw["column"]}"', []
    if "min_value" in kw:
        low = _value(kw["min_value"])
        strict = _value(kw.get("strict_min", False))
        tests.append(f"({low} IS NULL OR (CASE WHEN {strict} THEN {col} > {low} ELSE {col} >= {low} END))")
    if "max_value" in kw:
        high = _value(kw["max_value"])
        strict = _value(kw.get("strict_max", False))
        tests.append(f"({high} IS NULL OR (CASE WHEN {strict} THEN {col} < {high} ELSE {col} <= {high} END))")
    return (
        f"SELECT o.table_id, o.cell, {col} AS v0 FROM obs AS o JOIN params AS p USING (table_id) "
        f"WHERE {col} IS NOT NULL AND NOT ({' AND '.join(tests) or 'true'})"
    )


def _in_set(kw: dict) -> str:
    col = f'o."{kw["column"]}"'
    return (
        f"SELECT o.table_id, o.cell, {col} AS v0 FROM obs AS o JOIN params AS p USING (table_id) "
        f"WHERE {col} IS NOT NULL AND NOT list_contains({_value(kw['value_set'])}, {col})"
    )


def _match_regex(kw: dict) -> str:
    col = f'o."{kw["column"]}"'
    return (
        f"SELECT o.table_id, o.cell, {col} AS v0 FROM obs AS o JOIN params AS p USING (table_id) "
        f"WHERE {col} IS NOT NULL AND NOT regexp_matches({col}, {_value(kw['regex'])})"
    )


def _compound_unique(kw: dict) -> str:
    cols = [f'"{c}"' for c in kw["column_list"]]
    values = ", ".join(f"{c} AS v{i}" for i, c in enumerate(cols))
    return (
        f"SELECT table_id, cell, {values} FROM obs WHERE table_id IN (SELECT table_id FROM params) "
        f"QUALIFY count(*) OVER (PARTITION BY table_id, {', '.join(cols)}) > 1"
    )


TRANSLATIONS = {
    "expect_column_values_to_be_between": _between,
    "expect_column_values_to_be_in_set": _in_set,
    "expect_compound_columns_to_be_unique": _compound_unique,
    "expect_column_values_to_match_regex": _match_regex,
}


@cache
def _queries(family: str) -> tuple[tuple[dict, str], ...]:
    """(meta, SQL) of every expectation of a family's suite; an unknown type is a clear error (use engine gx)."""
    out = []
    for expectation in suites_by_family()[family]["expectations"]:
        translate = TRANSLATIONS.get(expectation["type"])
        if translate is None:
            raise ValueError(
                f"expectation {expectation['type']!r} of suite {suites_by_family()[family]['name']!r} "
                f"has no DuckDB translation: run the suites with engine 'gx', or add one to "
                f"{__name__}.TRANSLATIONS"
            )
        out.append((expectation["meta"], translate(expectation["kwargs"])))
    return tuple(out)


def _relation(rows: list[dict]) -> pa.Table:
    """The parameter rows as an Arrow table; list parameters typed by their elements (an empty list too)."""
    types = {}
    for key in rows[0]:
        sample = next((v for r in rows if isinstance(v := r[key], list) and v), None)
        if any(isinstance(r[key], list) for r in rows):
            types[key] = pa.list_(pa.int64() if isinstance((sample or [""])[0], int) else pa.string())
    return pa.Table.from_pylist(
        rows, schema=pa.schema([(k, types.get(k) or pa.array([r[k] for r in rows]).type) for k in rows[0]])
    )


def run_suites_in_duckdb(tables: dict[str, pd.DataFrame], round_: str | int) -> pd.DataFrame:
    """Findings (FINDING_COLUMNS) of every table's suite, each expectation one query over all tables."""
    frames = {t: f for t, f in tables.items() if not f.empty}
    if not frames:
        return pd.DataFrame(columns=FINDING_COLUMNS)
    params = {t: parameters(TABLES[t], round_) for t in frames}
    rows = []
    with duckdb.connect() as conn:
        conn.register("obs_frame", pd.concat([f.assign(table_id=t) for t, f in frames.items()], ignore_index=True))
        conn.execute("CREATE TEMP TABLE obs AS SELECT * FROM obs_frame")
        for family in sorted({TABLES[t].family for t in frames}):
            members = [t for t in frames if TABLES[t].family == family]
            conn.register("params", _relation([params[t] | {"table_id": t} for t in members]))
            for meta, sql in _queries(family):
                for table_id, cell, *values in conn.execute(
                    f"SELECT * FROM ({sql}) ORDER BY table_id, cell"
                ).fetchall():
                    rows.append(_finding(meta, table_id, cell, values, params[table_id]))
            conn.unregister("params")
    return pd.DataFrame(rows, columns=FINDING_COLUMNS)
