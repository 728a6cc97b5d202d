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

from ilms_dagster.microdata.concepts import StockTable
from ilms_dagster.microdata.sql import cells_sql, cube_sql

KEYS = ("table_id", "sex", "classif1", "classif2")


def standard_errors(conn: duckdb.DuckDBPyConnection, person: str, tables: list[StockTable]) -> tuple[pd.DataFrame, list[str]]:
    """Standard error of every cell (KEYS + se) from the person relation with stratum and psu; and notes."""
    conn.execute(f"CREATE OR REPLACE TEMP TABLE psu_cube AS {cube_sql(person, keys=('stratum', 'psu'))}")
    try:
        singletons = conn.execute("SELECT count(*) FROM (SELECT stratum FROM psu_cube GROUP BY stratum"
                                  " HAVING count(DISTINCT psu) = 1)").fetchone()[0]  # fmt: skip
        errors = conn.execute(f"""
WITH z AS ({cells_sql(tables, 'psu_cube', keys=('stratum', 'psu'))}),
z1 AS (SELECT table_id, sex, classif1, classif2, statistic, stratum, psu,
              CAST(wm AS DOUBLE) / 1e6 AS y_total, CAST(earn_num AS DOUBLE) / 1e5 AS y_mean,
              coalesce(CAST(earn_den AS DOUBLE) / 1e3, 0) AS x
       FROM z),
totals AS (SELECT table_id, sex, classif1, classif2, sum(y_mean) AS ym, sum(x) AS xs FROM z1 GROUP BY ALL),
u AS (SELECT z1.table_id, z1.sex, z1.classif1, z1.classif2, z1.stratum,
             CASE WHEN z1.statistic = 'mean' THEN
                 CASE WHEN t.xs > 0 THEN (coalesce(z1.y_mean, 0) - t.ym / t.xs * z1.x) / t.xs END
             ELSE z1.y_total END AS u
      FROM z1 JOIN totals AS t USING (table_id, sex, classif1, classif2)),
n_h AS (SELECT stratum, count(DISTINCT psu) AS n_h FROM psu_cube GROUP BY stratum),
per_h AS (SELECT table_id, sex, classif1, classif2, stratum, sum(u) AS su, sum(u * u) AS suu
          FROM u GROUP BY ALL)
SELECT table_id, sex, classif1, classif2,
       sqrt(greatest(sum(CASE WHEN n_h > 1 THEN n_h / (n_h - 1) * (suu - su * su / n_h) ELSE 0 END), 0)) AS se
FROM per_h JOIN n_h USING (stratum)
GROUP BY ALL
""").df()
    finally:
        conn.execute("DROP TABLE IF EXISTS temp.psu_cube")
    notes = [f"{singletons} stratum/strata with a single PSU add no variance (certainty units)"] if singletons else []
    return errors, notes
