/*
description: >
  The round x country partitions whose data feed the models. A partition is accepted when the latest result
  of the validation checks for it (validation.partition_status, latest checked_at) found no blocking error
  and is about the submission currently loaded: the submission_sha256 of its ilmq rows (or, for a submission
  without any value, one received for the partition). A partition never checked, whose latest check found
  errors, or reloaded since its check, is quarantined: it is absent here and none of its values reach the
  marts. One row per accepted partition.
schema: staging
columns:
  round: Collection round (year) of the partition.
  ref_area: Reporting country (ISO 3166-1 alpha-3) of the partition.
  submission_sha256: sha256 of the submission the checks accepted; only ilmq rows loaded from it feed the models.
  errors: Blocking errors the latest check found (always 0 here).
  warnings: Warnings the latest check found (they do not block).
  checked_at: When the latest check ran.
*/
WITH latest_check AS (
    SELECT round, ref_area, submission_sha256, errors, warnings, checked_at
    FROM validation.partition_status
    QUALIFY row_number() OVER (PARTITION BY round, ref_area ORDER BY checked_at DESC, submission_sha256) = 1
),
loaded AS (
    SELECT DISTINCT round, ref_area, submission_sha256 FROM staging.ilmq_loaded
)
SELECT c.round, c.ref_area, c.submission_sha256, c.errors, c.warnings, c.checked_at
FROM latest_check AS c
WHERE c.errors = 0
  AND (c.submission_sha256 IN (SELECT submission_sha256 FROM loaded AS l WHERE (l.round, l.ref_area) = (c.round, c.ref_area))
       OR (NOT EXISTS (SELECT 1 FROM loaded AS l WHERE (l.round, l.ref_area) = (c.round, c.ref_area))
           AND c.submission_sha256 IN (SELECT sha256 FROM raw.submissions AS s
                                       WHERE (s.round, s.ref_area) = (c.round, c.ref_area))))
ORDER BY c.round, c.ref_area
