"""The SQL of the tabulation, generated from the registry (concepts.py) and a survey's mapping.

1. `person_sql`: one row per working-age person with an integer leaf per dimension (-1: a code the mapping
   does not cover), the weight in milli-persons (an integer, so sums are exact and the same in any row order)
   and earnings in cents.
2. `cube_sql`: the weighted leaf cube, GROUP BY the leaves (a few thousand rows, one scan of the file).
3. `cells_sql`: every cell of every stock table from the cube, joining the registry's `members` relation
   (code -> its leaves): totals are sums of the leaves, so every identity of the registry holds exactly.
"""

from __future__ import annotations

import pandas as pd

from ilms_dagster.microdata.concepts import (
    BASIS_CONCEPT,
    CONCEPTS,
    LFS_LEAVES,
    StockTable,
    age_bins,
    dimensions,
    standard_leaf,
    working_age,
)
from ilms_dagster.microdata.mapping import Mapping, MicrodataError, VariableMap
from ilms_dagster.microdata.readers import Survey

UNMAPPED = -1
NUMERIC_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "FLOAT",
    "DOUBLE",
    "REAL",
)
CUBE_DIMENSIONS = (
    "sex",
    "age",
    "labour_force_status",
    "education",
    "economic_activity",
    "occupation",
    "status_in_employment",
    "country_of_birth",
    "citizenship",
)
EMPLOYED = LFS_LEAVES.index("EMP")
EMPLOYEES = "STE_AGGREGATE_EES"


def q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def is_numeric(sql_type: str) -> bool:
    return sql_type.upper().startswith(NUMERIC_TYPES) or sql_type.upper().startswith("DECIMAL")


def _literal(code, numeric: bool, where: str) -> str:
    if numeric:
        try:
            return repr(float(code)) if not isinstance(code, int) else str(code)
        except (TypeError, ValueError):
            raise MicrodataError(where, [f"code {code!r} is text but the variable is numeric in the file"]) from None
    text = str(code).strip()
    return "'" + text.replace("'", "''") + "'"


def leaf_sql(var: VariableMap, survey: Survey, country: str) -> str:
    """SQL giving a person's leaf index for one categorical concept (-1 where the mapping has no target)."""
    col = q(var.variable)
    numeric = is_numeric(survey.types[var.variable])
    leaf = (
        (lambda std: LFS_LEAVES.index(std))
        if var.concept == "labour_force_status"
        else (lambda std: standard_leaf(var.concept, std))
    )
    where = f"{survey.path.name}: variable {var.variable!r} ({var.concept})"
    value = col if numeric else f"trim(CAST({col} AS VARCHAR))"
    floating = any(t in survey.types[var.variable].upper() for t in ("FLOAT", "DOUBLE", "REAL"))
    empty = f"{col} IS NULL" + ("" if numeric else f" OR {value} = ''") + (f" OR isnan({col})" if floating else "")
    by_leaf: dict[int, list[str]] = {}
    for code, std in var.codes.items():
        by_leaf.setdefault(leaf(std), []).append(_literal(code, numeric, where))
    branches = [f"WHEN {empty} THEN {leaf(var.missing) if var.missing else UNMAPPED}"]
    branches += [f"WHEN {value} IN ({', '.join(codes)}) THEN {i}" for i, codes in sorted(by_leaf.items())]
    for lo, hi, std in var.ranges:
        if not numeric:
            raise MicrodataError(where, ["ranges need a numeric variable; the file holds text"])
        branches.append(f"WHEN {col} BETWEEN {lo!r} AND {hi!r} THEN {leaf(std)}")
    otherwise = leaf(var.other) if var.other else UNMAPPED
    return f"CAST(CASE {' '.join(branches)} ELSE {otherwise} END AS TINYINT)"


def age_sql(var: VariableMap) -> str:
    col = q(var.variable)
    branches = [
        f"WHEN {col} >= {lo} AND {col} < {hi + 1} THEN {i}" if hi is not None else f"WHEN {col} >= {lo} THEN {i}"
        for i, (lo, hi) in enumerate(age_bins())
    ]
    return f"CAST(CASE {' '.join(branches)} ELSE {UNMAPPED} END AS TINYINT)"


def _employees_leaves() -> str:
    return ", ".join(str(i) for i in dimensions()["status_in_employment"].members[EMPLOYEES])


def person_sql(mapping: Mapping, survey: Survey, design: bool = False) -> str:
    """One row per person of working age (or of unknown age, to be reported) with integer leaves."""
    v = mapping.variables
    age_col = q(v["age"].variable)
    lfs = leaf_sql(v["labour_force_status"], survey, mapping.country)
    cols = {"age": age_sql(v["age"]), "labour_force_status": lfs}
    for concept in CUBE_DIMENSIONS:
        if concept in cols:
            continue
        if concept not in v:
            cols[concept] = "CAST(NULL AS TINYINT)"
        elif CONCEPTS[concept]["universe"] == "employed":
            cols[concept] = f"CASE WHEN {lfs} = {EMPLOYED} THEN {leaf_sql(v[concept], survey, mapping.country)} END"
        else:
            cols[concept] = leaf_sql(v[concept], survey, mapping.country)
    weight = f"CAST({q(mapping.weight)} AS DOUBLE) * {mapping.weight_scale!r}"
    cols["wm"] = f"CAST(round(coalesce({weight}, 0) * 1000) AS BIGINT)"
    cols["bad_weight"] = f"NOT coalesce({weight} > 0, false)"
    if "earnings" in v:
        earn = f"CAST({q(v['earnings'].variable)} AS DOUBLE) * {v['earnings'].scale!r}"
        employee = f"{lfs} = {EMPLOYED} AND ({cols['status_in_employment']}) IN ({_employees_leaves()})"
        cols["earn_c"] = f"CASE WHEN {employee} AND {earn} >= 0 THEN CAST(round({earn} * 100) AS BIGINT) END"
        cols["bad_earnings"] = f"coalesce({employee} AND {earn} < 0, false)"
    else:
        cols["earn_c"], cols["bad_earnings"] = "CAST(NULL AS BIGINT)", "false"
    if "hours" in v:
        hours = f"CAST({q(v['hours'].variable)} AS DOUBLE)"
        cols["bad_hours"] = f"coalesce({lfs} = {EMPLOYED} AND ({hours} < 0 OR {hours} > 168), false)"
    else:
        cols["bad_hours"] = "false"
    if design:
        cols["stratum"] = q(mapping.strata)
        cols["psu"] = q(mapping.psu)
    select = ",\n       ".join(f"{expr} AS {name}" for name, expr in cols.items())
    return f"SELECT {select}\nFROM {survey.name}\nWHERE {age_col} >= {working_age()} OR {age_col} IS NULL"


def cube_sql(person: str, keys: tuple[str, ...] = ()) -> str:
    """The weighted cube of leaves (and `keys`, e.g. stratum and PSU): counts, weights, earnings sums."""
    group = ", ".join([*keys, *CUBE_DIMENSIONS])
    return f"""SELECT {group},
       count(*) AS n, sum(wm) AS wm,
       count(earn_c) AS n_earn, sum(wm * earn_c) AS earn_num, sum(wm) FILTER (WHERE earn_c IS NOT NULL) AS earn_den,
       count(*) FILTER (WHERE bad_weight) AS bad_weight, count(*) FILTER (WHERE bad_earnings) AS bad_earnings,
       count(*) FILTER (WHERE bad_hours) AS bad_hours
FROM ({person})
GROUP BY {group}"""


def members_frame() -> pd.DataFrame:
    """The registry as data for the cell query: (dimension, code, leaf) for every code of every dimension."""
    codes = code_ids()
    rows = [
        (dim.name, code, codes[(dim.name, code)], leaf)
        for dim in dimensions().values()
        for code, leaves in dim.members.items()
        for leaf in leaves
    ]
    return pd.DataFrame(rows, columns=["dimension", "code", "code_id", "leaf"]).astype(
        {"leaf": "int8", "code_id": "int16"}
    )


def code_ids() -> dict[tuple[str, str], int]:
    """A small integer per (dimension, registry code), for grouping large relations by cell."""
    return {
        (dim.name, code): i for i, (dim, code) in enumerate((d, c) for d in dimensions().values() for c in d.members)
    }


def cells_sql(tables: list[StockTable], cube: str, keys: tuple[str, ...] = ()) -> str:
    """Every cell (table, sex, classif1, classif2) of the given stock tables from a cube relation, summing each
    cell's leaves. One SELECT per table and basis, generated; no query is written per table."""
    selects = []
    key_cols = "".join(f"c.{k}, " for k in keys)
    for st in tables:
        t = st.table
        for basis in t.bases:
            status = BASIS_CONCEPT[basis]
            joins = [
                "JOIN members s ON s.dimension = 'sex' AND s.leaf = c.sex",
                f"JOIN members m ON m.dimension = '{status}' AND m.leaf = c.{status}",
            ]
            if st.concept:
                joins.append(f"JOIN members r ON r.dimension = '{st.concept}' AND r.leaf = c.{st.concept}")
                row = "r.code"
            else:
                row = f"'{t.total_category}'"
            lfs = ", ".join(str(LFS_LEAVES.index(s)) for s in st.population)
            where = [f"c.labour_force_status IN ({lfs})"]
            if st.status_in_employment:
                leaves = dimensions()["status_in_employment"].members[st.status_in_employment]
                where.append(f"c.status_in_employment IN ({', '.join(map(str, leaves))})")
            selects.append(
                f"SELECT {key_cols}'{t.id}' AS table_id, '{t.indicator.format(basis=basis)}' AS indicator, "
                f"'{st.statistic}' AS statistic, s.code AS sex, {row} AS classif1, m.code AS classif2, "
                f"sum(c.n) AS n, sum(c.wm) AS wm, sum(c.n_earn) AS n_earn, sum(c.earn_num) AS earn_num, "
                f"sum(c.earn_den) AS earn_den\nFROM {cube} AS c\n"
                + "\n".join(joins)
                + f"\nWHERE {' AND '.join(where)}\nGROUP BY ALL"
            )
    return "\nUNION ALL\n".join(selects)
