/*
description: >
  Where a submission revises a published ILOSTAT figure: one row per accepted round that reported a value
  (staging.vintages) for which an imported ILOSTAT file (raw.ilostat_imports) holds a published value of the
  same country, indicator, sex, classif1, classif2 and reference year, and the two differ once rounded to
  the published precision (0.001), or one of them is a marker ('..', 'x') and the other a number. Units as
  published (thousands; local currency for earnings).
schema: marts
columns:
  table_id:
  ref_area:
  indicator:
  sex:
  classif1:
  classif2:
  time:
  published_value: The published ILOSTAT value (NULL if published without a value).
  published_status: obs_status of the published value.
  published_file: Name of the imported ILOSTAT file holding the published value.
  submitted_value: The value the round's submission reported (NULL for a marker).
  submitted_note: Note of the submitted value ('not available', 'confidential' for markers).
  round: Collection round of the submission that revises the published value.
  is_latest: True if this round's value is the latest (what staging.latest and the marts use).
  difference: submitted_value - published_value (NULL if either is missing).
  difference_pct: difference as a percentage of the published value (NULL if it is 0 or missing).
*/
WITH imports AS (
    SELECT sha256, file_name FROM raw.ilostat_imports
),
published AS (
    SELECT v.*, i.file_name
    FROM staging.vintages AS v
    JOIN imports AS i ON i.sha256 = v.submission_sha256
),
submitted AS (
    SELECT v.*
    FROM staging.vintages AS v
    WHERE v.submission_sha256 NOT IN (SELECT sha256 FROM imports)
)
SELECT s.table_id, s.ref_area, s.indicator, s.sex, s.classif1, s.classif2, s.time,
       p.obs_value AS published_value, p.obs_status AS published_status, p.file_name AS published_file,
       s.obs_value AS submitted_value, s.note AS submitted_note, s.round, s.vintage_rank = 1 AS is_latest,
       s.obs_value - p.obs_value AS difference,
       100 * (s.obs_value - p.obs_value) / nullif(p.obs_value, 0) AS difference_pct
FROM submitted AS s
JOIN published AS p
  ON p.table_id = s.table_id AND p.ref_area = s.ref_area AND p.indicator = s.indicator AND p.sex = s.sex
 AND p.classif1 IS NOT DISTINCT FROM s.classif1 AND p.classif2 IS NOT DISTINCT FROM s.classif2 AND p.time = s.time
WHERE round(s.obs_value, 3) IS DISTINCT FROM round(p.obs_value, 3)
ORDER BY s.ref_area, s.table_id, s.indicator, s.sex, s.classif1, s.classif2, s.time, s.round
