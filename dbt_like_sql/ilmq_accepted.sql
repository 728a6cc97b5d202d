/*
description: >
  The values of staging.ilmq_loaded that feed the models: those of partitions accepted by the validation
  checks (staging.accepted_partitions), loaded from the very submission the checks accepted. All rounds
  (vintages) are kept. Values are as reported: counts in thousands, earnings
  in local currency; obs_value NULL with a note where the cell was '..' (not available) or 'x' (confidential).
schema: staging
columns:
  table_id: ILMQ table id (ilmq.<table_id>, template sheet).
  family: Table family (stock, inflow, outflow, return, abroad).
  ref_area: Reporting country (ISO 3166-1 alpha-3).
  round: Collection round (year) = the vintage of the value.
  indicator: ILOSTAT indicator code.
  source: Source declared by the focal point (<type>:<name>).
  sex: SEX_T, SEX_M or SEX_F.
  classif1: Row category (classification code, e.g. ECO_SECTOR_AGR, CDS_DES_THA).
  classif2: Migratory status of stock tables (CBR_BIR_* place of birth, CCT_CIT_* citizenship); NULL for flows.
  time: Reference year.
  obs_value: The value (thousands; local currency for earnings); NULL for a '..' or 'x' marker.
  obs_status: ILOSTAT observation status, if any.
  note: not available / confidential for markers.
  cell: Excel cell of the value on the sheet named like the table.
  submission_sha256: sha256 of the workbook the value was loaded from.
*/
SELECT l.*
FROM staging.ilmq_loaded AS l
JOIN staging.accepted_partitions AS a USING (round, ref_area, submission_sha256)
