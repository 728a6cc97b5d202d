/*
description: >
  Timeliness of the submissions: one row per round considered (from the first round a submission was received
  for to the current round) and country of the collection (staging.reporting_countries), with the day the
  country's first workbook for the round was received against the round's deadline. Lateness is measured on
  the time received (raw.submissions.received_at), not on the date the focal point typed on the Metadata sheet
  (shown beside it). Resubmissions (corrections) are counted; the status looks at the first. A round whose
  deadline has passed with nothing received is 'not submitted' (overdue); before its deadline, 'not yet due'.
schema: marts
columns:
  round: Collection round (year).
  ref_area: Reporting country, ISO 3166-1 alpha-3.
  deadline: Submission deadline of the round.
  first_submission_date: Day the country's first workbook for the round was received (NULL if none).
  last_submission_date: Day its latest workbook (resubmission) for the round was received.
  declared_submission_date: The submission date the focal point entered on the first workbook's Metadata sheet.
  submissions: Number of distinct workbooks received for the round.
  days_late: first_submission_date - deadline in days (negative = early); if nothing was received, the days since the deadline (NULL before it).
  status: on time, late, not submitted (deadline passed, nothing received) or not yet due.
  accepted: The partition currently passes the validation checks (its data feed the marts).
*/
WITH expected AS (
    SELECT DISTINCT r.round, r.deadline, c.iso3 AS ref_area
    FROM staging.registry_rounds AS r
    CROSS JOIN staging.reporting_countries AS c
    WHERE r.round >= (SELECT min(round) FROM raw.submissions)
),
received AS (
    SELECT round, ref_area, min(received_at::DATE) AS first_date, max(received_at::DATE) AS last_date,
           list(submission_date ORDER BY received_at)[1] AS declared_date, count(DISTINCT sha256) AS submissions
    FROM raw.submissions
    GROUP BY ALL
)
SELECT
    e.round, e.ref_area, e.deadline,
    r.first_date AS first_submission_date,
    r.last_date AS last_submission_date,
    r.declared_date AS declared_submission_date,
    coalesce(r.submissions, 0) AS submissions,
    CASE WHEN r.first_date IS NOT NULL THEN date_diff('day', e.deadline, r.first_date)
         WHEN current_date > e.deadline THEN date_diff('day', e.deadline, current_date) END AS days_late,
    CASE WHEN r.first_date IS NOT NULL AND r.first_date <= e.deadline THEN 'on time'
         WHEN r.first_date IS NOT NULL THEN 'late'
         WHEN current_date > e.deadline THEN 'not submitted' ELSE 'not yet due' END AS status,
    p.ref_area IS NOT NULL AS accepted
FROM expected AS e
LEFT JOIN received AS r USING (round, ref_area)
LEFT JOIN staging.accepted_partitions AS p USING (round, ref_area)
ORDER BY e.round, e.ref_area
