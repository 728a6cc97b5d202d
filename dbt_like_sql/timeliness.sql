/*
description: >
  Timeliness of the submissions: one row per round considered (a registry round from which at least one
  submission was received) and reporting country, with the date the country first submitted against the
  round's deadline. The submission date is the one the focal point entered on the workbook's Metadata sheet,
  else the day the file was received. Resubmissions (corrections) are counted; the status looks at the first.
schema: marts
columns:
  round: Collection round (year).
  ref_area: Reporting country, ISO 3166-1 alpha-3.
  deadline: Submission deadline of the round.
  first_submission_date: Date of the country's first submission for the round (NULL if none).
  last_submission_date: Date of its latest submission (resubmission) for the round.
  submissions: Number of distinct workbooks received for the round.
  days_late: first_submission_date - deadline in days (negative = early); NULL if not submitted.
  status: on time, late or not submitted.
  accepted: The partition currently passes the validation checks (its data feed the marts).
*/
WITH expected AS (
    SELECT DISTINCT r.round, r.deadline, c.iso3 AS ref_area
    FROM staging.registry_rounds AS r
    CROSS JOIN staging.registry_countries AS c
    WHERE c.reporting AND r.round IN (SELECT round FROM raw.submissions)
),
received AS (
    SELECT round, ref_area, min(coalesce(submission_date, received_at::DATE)) AS first_date,
           max(coalesce(submission_date, received_at::DATE)) AS last_date, count(DISTINCT sha256) AS submissions
    FROM raw.submissions
    GROUP BY ALL
)
SELECT
    e.round, e.ref_area, e.deadline,
    r.first_date AS first_submission_date,
    r.last_date AS last_submission_date,
    coalesce(r.submissions, 0) AS submissions,
    date_diff('day', e.deadline, r.first_date) AS days_late,
    CASE WHEN r.first_date IS NULL THEN 'not submitted' WHEN r.first_date <= e.deadline THEN 'on time'
         ELSE 'late' END AS status,
    p.ref_area IS NOT NULL AS accepted
FROM expected AS e
LEFT JOIN received AS r USING (round, ref_area)
LEFT JOIN staging.accepted_partitions AS p USING (round, ref_area)
ORDER BY e.round, e.ref_area
