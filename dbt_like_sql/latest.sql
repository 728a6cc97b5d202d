/*
description: >
  The latest vintage of every accepted value: for each country, table, indicator, sex, classif1, classif2
  and reference year, the value from the most recent collection round that reported it (staging.vintages
  with vintage_rank = 1). Markers count as reported: a later '..' or 'x' supersedes an earlier number, so a
  value a country has since declared confidential is never published from an older round. A published
  ILOSTAT value (imported, round 0) is the value only where no accepted round reported it. All marts are
  built on this table.
schema: staging
columns:
  table_id:
  family:
  ref_area:
  indicator:
  sex:
  classif1:
  classif2:
  time:
  obs_value: Latest value (thousands; local currency for earnings); NULL if the latest vintage is a marker.
  obs_status:
  note:
  source: Source declared in the latest vintage.
  round: Collection round of the latest vintage (0 = the published ILOSTAT value).
  vintages:
  previous_value: The value in the vintage before the latest.
  submission_sha256: sha256 of the workbook (or imported ILOSTAT file) of the latest vintage.
*/
SELECT table_id, family, ref_area, indicator, sex, classif1, classif2, time, obs_value, obs_status, note, source,
       round, vintages, previous_value, submission_sha256
FROM staging.vintages
WHERE vintage_rank = 1
