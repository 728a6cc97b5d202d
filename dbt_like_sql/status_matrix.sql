/*
description: >
  Where every round x country of the collection stands, one row per cell of marts.timeliness (rounds from the
  first one received to the current one, countries of staging.reporting_countries): submitted, accepted by the
  checks, blocked by a blocking error of its latest check, accepted on review (a reviewer accepted errors of
  the loaded submission), late (first workbook after the deadline) or missing (deadline passed, nothing
  received). The asset reports/status_matrix shows it as a round x country matrix (Markdown and PNG) and
  checks the deadlines; the sensor status_alerts reports newly blocked, late and missing cells.
schema: marts
columns:
  round: Collection round (year).
  ref_area: Reporting country, ISO 3166-1 alpha-3.
  deadline: Submission deadline of the round.
  submitted: A workbook for the round was received and loaded (raw.submissions).
  accepted: The partition passes the validation checks (staging.accepted_partitions), so its data feed the marts.
  blocked: The latest check of the partition found blocking errors (loaded, quarantined from the marts).
  reviewed: Errors of the loaded submission were accepted on review (ilms review accept).
  late: The first workbook arrived after the deadline.
  missing: The deadline has passed and nothing was received.
  days_late: Days after the deadline of the first workbook or, if none, of today (NULL before the deadline; negative = early).
  status: One word for the cell (missing, blocked, reviewed, accepted, submitted (loaded, not checked) or not yet due).
  label: "The status, with ', late' for a late submission (what the matrix shows)."
*/
WITH latest_check AS (
    SELECT round, ref_area, submission_sha256, errors
    FROM validation.partition_status
    QUALIFY row_number() OVER (PARTITION BY round, ref_area ORDER BY checked_at DESC, submission_sha256) = 1
),
reviewed AS (
    SELECT DISTINCT f.round, f.ref_area
    FROM validation.findings AS f
    JOIN latest_check AS c USING (round, ref_area, submission_sha256)
    WHERE f.severity = 'reviewed'
),
cells AS (
    SELECT
        t.round, t.ref_area, t.deadline,
        t.submissions > 0 AS submitted,
        t.accepted,
        coalesce(c.errors > 0, FALSE) AS blocked,
        r.ref_area IS NOT NULL AS reviewed,
        t.status = 'late' AS late,
        t.status = 'not submitted' AS missing,
        t.days_late
    FROM marts.timeliness AS t
    LEFT JOIN latest_check AS c USING (round, ref_area)
    LEFT JOIN reviewed AS r USING (round, ref_area)
)
SELECT
    *,
    CASE WHEN missing THEN 'missing' WHEN blocked THEN 'blocked' WHEN accepted AND reviewed THEN 'reviewed'
         WHEN accepted THEN 'accepted' WHEN submitted THEN 'submitted' ELSE 'not yet due' END AS status,
    CASE WHEN missing THEN 'missing' WHEN blocked THEN 'blocked' WHEN accepted AND reviewed THEN 'reviewed'
         WHEN accepted THEN 'accepted' WHEN submitted THEN 'submitted' ELSE 'not yet due' END
        || CASE WHEN late THEN ', late' ELSE '' END AS label
FROM cells
ORDER BY round, ref_area
