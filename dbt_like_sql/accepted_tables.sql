/*
description: >
  The tables of each round x country partition whose values feed the models. A partition's table is accepted
  when the latest result of the validation checks for the partition (validation.partition_status, latest
  checked_at) is about the submission currently loaded and found no open error in that table: one error
  quarantines the table it names (a cross-table rule names the table that disagrees), not the whole
  partition, so a country's other tables still reach the marts. An error a reviewer accepted as a known source
  inconsistency (validation.reviews; severity 'reviewed' in validation.findings) is not open. A partition never
  checked, reloaded since its check, or whose verdict counts errors no finding places in a table, feeds
  nothing. One row per accepted table of a partition.
schema: staging
columns:
  round: Collection round (year) of the partition.
  ref_area: Reporting country (ISO 3166-1 alpha-3) of the partition.
  table_id: ILMQ table id (ilmq.<table_id>, template sheet).
  submission_sha256: sha256 of the submission checked; only ilmq rows loaded from it feed the models.
*/
WITH latest_check AS (
    SELECT round, ref_area, submission_sha256, errors
    FROM validation.partition_status
    QUALIFY row_number() OVER (PARTITION BY round, ref_area ORDER BY checked_at DESC, submission_sha256) = 1
),
loaded AS (
    SELECT DISTINCT round, ref_area, table_id, submission_sha256 FROM staging.ilmq_loaded
),
table_errors AS (
    SELECT round, ref_area, submission_sha256, table_id, count(*) AS open_errors
    FROM validation.findings WHERE severity = 'error'
    GROUP BY ALL
),
located AS (  -- the verdict's errors that findings place in a table (all of them, unless a finding is missing)
    SELECT round, ref_area, submission_sha256, sum(open_errors) AS open_errors FROM table_errors GROUP BY ALL
)
SELECT l.round, l.ref_area, l.table_id, l.submission_sha256
FROM loaded AS l
JOIN latest_check AS c USING (round, ref_area, submission_sha256)
LEFT JOIN table_errors AS t USING (round, ref_area, submission_sha256, table_id)
LEFT JOIN located AS p USING (round, ref_area, submission_sha256)
WHERE coalesce(t.open_errors, 0) = 0 AND c.errors = coalesce(p.open_errors, 0)
ORDER BY l.round, l.ref_area, l.table_id
