/*
description: >
  Completeness of the collection, the figure the ILO reports (e.g. 58% for ASEAN at the end of 2023): the
  share of the expected grid (reporting country x ILMQ table x reference year) holding at least one
  non-missing total value from an accepted submission, from marts.completeness_grid. level = 'overall' is
  the headline: every (country, table, year) asked for by the rounds considered counted once, filled if any
  accepted round filled it. 'country', 'family' and 'table' split that same grid. 'round', 'country_round'
  and 'family_round' look at one round's grid (its countries x tables x its three reference years) and count
  what that round's accepted submissions filled (filled_in_round): a round's figure does not change when
  other rounds are loaded.
schema: marts
columns:
  level: overall, country, family, table, round, country_round or family_round.
  round: Collection round on round levels; NULL otherwise.
  ref_area: Country on country levels; NULL otherwise.
  family: Table family on family and table levels; NULL otherwise.
  table_id: ILMQ table on the table level; NULL otherwise.
  expected_cells: Cells of the expected grid (country x table x reference year) at this level.
  filled_cells: Cells holding at least one non-missing total value.
  completeness_pct: filled_cells / expected_cells (%).
*/
WITH cells AS (
    SELECT ref_area, family, table_id, time, bool_or(filled_by_round) AS filled
    FROM marts.completeness_grid
    GROUP BY ALL
),
whole_grid AS (
    SELECT
        CASE WHEN grouping(ref_area) = 0 THEN 'country' WHEN grouping(table_id) = 0 THEN 'table'
             WHEN grouping(family) = 0 THEN 'family' ELSE 'overall' END AS level,
        NULL::INTEGER AS round, ref_area, family, table_id,
        count(*) AS expected_cells, count(*) FILTER (filled) AS filled_cells
    FROM cells
    GROUP BY GROUPING SETS ((), (ref_area), (family), (family, table_id))
),
round_grid AS (
    SELECT
        CASE WHEN grouping(ref_area) = 0 THEN 'country_round' WHEN grouping(family) = 0 THEN 'family_round'
             ELSE 'round' END AS level,
        round, ref_area, family, NULL::VARCHAR AS table_id,
        count(*) AS expected_cells, count(*) FILTER (filled_in_round) AS filled_cells
    FROM marts.completeness_grid
    GROUP BY GROUPING SETS ((round), (round, ref_area), (round, family))
)
SELECT level, round, ref_area, family, table_id, expected_cells, filled_cells,
       100 * filled_cells / nullif(expected_cells, 0) AS completeness_pct
FROM (SELECT * FROM whole_grid UNION ALL SELECT * FROM round_grid)
ORDER BY list_position(['overall', 'country', 'family', 'table', 'round', 'country_round', 'family_round'], level),
         round, ref_area, family, table_id
