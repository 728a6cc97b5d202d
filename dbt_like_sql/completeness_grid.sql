/*
description: >
  The expected grid of the collection and whether each cell is filled: one row per round considered x
  country of the collection (staging.reporting_countries) x ILMQ table x reference year the round asks for
  (R-3..R-1). The rounds considered run from the first round a submission was received for (raw.submissions)
  to the current round (the current year's, as the round partitions): a round nobody has submitted yet is
  counted, empty. A cell is filled
  when an accepted submission has at least one non-missing value (a number, 0 included; not a '..' or 'x'
  marker) in the table's total category (its first category, e.g. AGE_AGGREGATE_TOTAL) for that country
  and year, in any sex or migratory status column. Summaries are in marts.completeness.
schema: marts
columns:
  round: Collection round (year).
  ref_area: Reporting country, ISO 3166-1 alpha-3.
  table_id: ILMQ table id.
  family: Table family (stock, inflow, outflow, return, abroad).
  time: Reference year asked for by the round.
  submitted: The country's submission for this round was received (raw.submissions), accepted or not.
  accepted: The country's partition of this round passed the validation checks (staging.accepted_partitions).
  filled_in_round: This round's accepted submission fills the cell.
  filled_by_round: An accepted submission of this round or an earlier one fills the cell, i.e. the warehouse held the figure at the end of the round.
*/
WITH rounds AS (
    SELECT r.round, r.reference_year AS time
    FROM staging.registry_rounds AS r
    WHERE r.round >= (SELECT min(round) FROM raw.submissions)
),
grid AS (
    SELECT r.round, c.iso3 AS ref_area, t.table_id, t.family, r.time
    FROM rounds AS r
    CROSS JOIN staging.reporting_countries AS c
    CROSS JOIN staging.registry_tables AS t
),
filled AS (
    -- the first accepted round that filled each (country, table, year) with a non-missing total value
    SELECT a.ref_area, a.table_id, a.time, a.round
    FROM staging.ilmq_accepted AS a
    JOIN staging.registry_tables AS t USING (table_id)
    WHERE a.classif1 = t.total_category AND a.obs_value IS NOT NULL
    GROUP BY ALL
)
SELECT
    g.round, g.ref_area, g.table_id, g.family, g.time,
    EXISTS(SELECT 1 FROM raw.submissions AS s WHERE s.round = g.round AND s.ref_area = g.ref_area) AS submitted,
    EXISTS(SELECT 1 FROM staging.accepted_partitions AS p WHERE p.round = g.round AND p.ref_area = g.ref_area)
        AS accepted,
    EXISTS(SELECT 1 FROM filled AS f
            WHERE (f.ref_area, f.table_id, f.time, f.round) = (g.ref_area, g.table_id, g.time, g.round))
        AS filled_in_round,
    EXISTS(SELECT 1 FROM filled AS f
            WHERE (f.ref_area, f.table_id, f.time) = (g.ref_area, g.table_id, g.time) AND f.round <= g.round)
        AS filled_by_round
FROM grid AS g
ORDER BY g.round, g.ref_area, g.table_id, g.time
