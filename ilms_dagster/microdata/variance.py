"""Design-based standard errors of the tabulated cells: ultimate-cluster variance with Taylor linearisation.

For a cell total Y = sum_h sum_i y_hi, with y_hi the weighted total of primary sampling unit (PSU) i of
stratum h (thousands), the variance is estimated as if PSUs were drawn with replacement within strata:

    v(Y) = sum_h n_h / (n_h - 1) * sum_i (y_hi - ybar_h)^2          n_h = PSUs of stratum h in the sample

(the "ultimate cluster" estimator: it captures every stage of selection below the PSU, ignores finite
population corrections and is what Stata's `svy: total` and R's `survey::svytotal` give for
`svyset psu [pw=w], strata(stratum)`). For a mean R = Y / X (earnings over employees reporting them) the
linearised variable u_hi = (y_hi - R x_hi) / X takes the place of y_hi. Strata with a single PSU add
nothing (their variance cannot be estimated; Stata's `singleunit(certainty)`) and are reported. A PSU in
which a cell has nobody counts with y_hi = 0: n_h counts every PSU of the stratum in the file.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from ilms_dagster.microdata.concepts import BASIS_CONCEPT, LFS_LEAVES, StockTable, dimensions
from ilms_dagster.microdata.sql import code_ids

KEYS = ("table_id", "sex", "classif1", "classif2")


def standard_errors(
    conn: duckdb.DuckDBPyConnection, person: str, tables: list[StockTable]
) -> tuple[pd.DataFrame, list[str]]:
    """Standard error of every cell (KEYS + se) from the person relation with stratum and psu; and notes.

    The persons' leaves are materialised once (integers: ~40 bytes a person); then, per table and basis, PSU
    totals of its leaves, summed into its cells through the registry's `members`, give the variance."""
    conn.execute(f"CREATE OR REPLACE TEMP TABLE design_persons AS {person}")
    try:
        conn.execute(
            "CREATE OR REPLACE TEMP TABLE n_h AS SELECT stratum, count(DISTINCT psu) AS n_h"
            " FROM design_persons GROUP BY stratum"
        )
        singletons = conn.execute("SELECT count(*) FROM n_h WHERE n_h = 1").fetchall()[0][0]
        conn.register(
            "codes", pd.DataFrame([(i, code) for (_, code), i in code_ids().items()], columns=["code_id", "code"])
        )
        frames = [conn.execute(_table_sql(st, basis)).df() for st in tables for basis in st.table.bases]
    finally:
        conn.execute("DROP TABLE IF EXISTS temp.design_persons")
        conn.execute("DROP TABLE IF EXISTS temp.n_h")
        conn.unregister("codes")
    notes = [f"{singletons} stratum/strata with a single PSU add no variance (certainty units)"] if singletons else []
    return pd.concat(frames, ignore_index=True), notes


def _table_sql(st: StockTable, basis: str) -> str:
    """Standard errors of one table and basis. Cells are grouped by integer code ids (members.code_id) while
    the relation is PSU x cell, and named at the end."""
    t, status = st.table, BASIS_CONCEPT[basis]
    where = [f"labour_force_status IN ({', '.join(str(LFS_LEAVES.index(s)) for s in st.population)})"]
    if st.status_in_employment:
        leaves = dimensions()["status_in_employment"].members[st.status_in_employment]
        where.append(f"status_in_employment IN ({', '.join(map(str, leaves))})")
    row_leaf = st.concept or "0"
    row_join = f"JOIN members AS rr ON rr.dimension = '{st.concept}' AND rr.leaf = leaf.r" if st.concept else ""
    row_id = "rr.code_id" if st.concept else "-1"
    if st.statistic == "mean":
        u = """, t AS (SELECT s_id, r_id, m_id, sum(ye) / nullif(sum(x), 0) AS ratio, sum(x) AS xs FROM z GROUP BY ALL),
u AS (SELECT z.stratum, z.s_id, z.r_id, z.m_id,
             CASE WHEN t.xs > 0 THEN (coalesce(z.ye, 0) - t.ratio * z.x) / t.xs END AS u
      FROM z JOIN t USING (s_id, r_id, m_id))"""
    else:
        u = ", u AS (SELECT stratum, s_id, r_id, m_id, y AS u FROM z)"
    return f"""
WITH leaf AS (
    SELECT stratum, psu, sex, {row_leaf} AS r, {status} AS m,
           sum(wm) AS wm, sum(wm * earn_c) AS en, sum(wm) FILTER (WHERE earn_c IS NOT NULL) AS ed
    FROM design_persons WHERE {" AND ".join(where)}
    GROUP BY ALL),
z AS (
    SELECT stratum, psu, s.code_id AS s_id, {row_id} AS r_id, mm.code_id AS m_id,
           CAST(sum(wm) AS DOUBLE) / 1e6 AS y, CAST(sum(en) AS DOUBLE) / 1e5 AS ye,
           coalesce(CAST(sum(ed) AS DOUBLE), 0) / 1e3 AS x
    FROM leaf
    JOIN members AS s ON s.dimension = 'sex' AND s.leaf = leaf.sex
    JOIN members AS mm ON mm.dimension = '{status}' AND mm.leaf = leaf.m
    {row_join}
    GROUP BY ALL){u},
per_h AS (SELECT stratum, s_id, r_id, m_id, sum(u) AS su, sum(u * u) AS suu FROM u GROUP BY ALL),
v AS (SELECT s_id, r_id, m_id,
             sqrt(greatest(sum(CASE WHEN n_h > 1 THEN n_h / (n_h - 1) * (suu - su * su / n_h) ELSE 0 END), 0)) AS se
      FROM per_h JOIN n_h USING (stratum) GROUP BY ALL)
SELECT '{t.id}' AS table_id, s.code AS sex, {"r.code" if st.concept else f"'{t.total_category}'"} AS classif1,
       m.code AS classif2, v.se
FROM v JOIN codes AS s ON s.code_id = v.s_id JOIN codes AS m ON m.code_id = v.m_id
{"JOIN codes AS r ON r.code_id = v.r_id" if st.concept else ""}"""
