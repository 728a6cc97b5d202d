/*
description: >
  Every vintage of every accepted value: one row per value per collection round that reported it, ranked
  from the most recent round (vintage_rank 1) back, with the value of the previous vintage and the
  revision. A value is identified by table, country, indicator, sex, classif1, classif2 and reference year;
  a round "reported" it if its workbook had the cell filled, with a number or a marker ('..', 'x'), so a
  marker in a later round supersedes an earlier number. Units as reported (thousands; local currency for
  earnings). Published ILOSTAT values imported by `ilms import-ilostat` are the vintage of round 0, the
  oldest: any round's submitted value supersedes them.
schema: staging
columns:
  table_id:
  family:
  ref_area:
  round: Collection round (year) that reported this vintage; 0 for the published ILOSTAT vintage (imported).
  indicator:
  source:
  sex:
  classif1:
  classif2:
  time:
  obs_value: Value in this vintage; NULL for a marker.
  obs_status:
  note:
  cell: Excel cell of the value in this round's workbook.
  submission_sha256: sha256 of the workbook of this vintage (of the ILOSTAT file for round 0).
  vintage_rank: 1 for the most recent round that reported the value, 2 for the one before, ...
  vintages: Number of rounds that reported the value.
  previous_round: The round of the previous vintage (NULL for the first).
  previous_value: The value in the previous vintage.
  revision: obs_value - previous_value (NULL if either is missing).
*/
SELECT
    table_id, family, ref_area, round, indicator, source, sex, classif1, classif2, time, obs_value, obs_status, note,
    cell, submission_sha256,
    row_number() OVER (value_key ORDER BY round DESC) AS vintage_rank,
    count(*) OVER value_key AS vintages,
    lag(round) OVER (value_key ORDER BY round) AS previous_round,
    lag(obs_value) OVER (value_key ORDER BY round) AS previous_value,
    obs_value - lag(obs_value) OVER (value_key ORDER BY round) AS revision
FROM staging.ilmq_accepted
WINDOW value_key AS (PARTITION BY table_id, ref_area, indicator, sex, classif1, classif2, time)
