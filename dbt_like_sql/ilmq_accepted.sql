/*
description: >
  The values of staging.ilmq_loaded that feed the models: those of the tables accepted by the validation
  checks (staging.accepted_tables: no open error in the table), loaded from the very submission checked, and
  the published ILOSTAT values imported by `ilms import-ilostat` (raw.ilostat_imports; round 0, the oldest
  vintage, taken as published). All rounds (vintages) are kept. Values are as reported: counts in
  thousands, earnings in local currency; obs_value NULL with a note where the cell was '..' (not available)
  or 'x' (confidential). Columns as in staging.ilmq_loaded.
schema: staging
columns:
  table_id:
  family:
  ref_area: Reporting country (ISO 3166-1 alpha-3).
  round: Collection round (year) = the vintage of the value; 0 for a published ILOSTAT value (imported).
  indicator:
  source:
  sex:
  classif1:
  classif2:
  time:
  obs_value:
  obs_status:
  note:
  cell:
  submission_sha256: sha256 of the workbook the value was loaded from (the one the checks accepted), or of the
    imported ILOSTAT file (raw.ilostat_imports).
*/
SELECT l.*
FROM staging.ilmq_loaded AS l
JOIN staging.accepted_tables AS a USING (round, ref_area, table_id, submission_sha256)
UNION ALL
SELECT l.*
FROM staging.ilmq_loaded AS l
WHERE l.submission_sha256 IN (SELECT sha256 FROM raw.ilostat_imports)
