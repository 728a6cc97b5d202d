/*
description: >
  Every value loaded into the 24 ilmq.<table> tables, all partitions and rounds, accepted by the validation
  checks or not, in one long table with its table id and family. Values are as reported: counts in
  thousands, earnings in local currency; obs_value NULL with a note where the cell was '..' (not available)
  or 'x' (confidential). The models read staging.ilmq_accepted, its accepted part.
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
-- One line per registry table; tests/test_models_discovery.py fails when a registry table is missing here.
WITH loaded AS (
              SELECT 'wap_by_age' AS table_id, * FROM ilmq.wap_by_age
    UNION ALL SELECT 'wap_by_education' AS table_id, * FROM ilmq.wap_by_education
    UNION ALL SELECT 'lf_by_age' AS table_id, * FROM ilmq.lf_by_age
    UNION ALL SELECT 'lf_by_education' AS table_id, * FROM ilmq.lf_by_education
    UNION ALL SELECT 'emp_by_age' AS table_id, * FROM ilmq.emp_by_age
    UNION ALL SELECT 'emp_by_education' AS table_id, * FROM ilmq.emp_by_education
    UNION ALL SELECT 'unemp_by_age' AS table_id, * FROM ilmq.unemp_by_age
    UNION ALL SELECT 'unemp_by_education' AS table_id, * FROM ilmq.unemp_by_education
    UNION ALL SELECT 'olf_by_age' AS table_id, * FROM ilmq.olf_by_age
    UNION ALL SELECT 'olf_by_education' AS table_id, * FROM ilmq.olf_by_education
    UNION ALL SELECT 'emp_by_activity' AS table_id, * FROM ilmq.emp_by_activity
    UNION ALL SELECT 'emp_by_occupation' AS table_id, * FROM ilmq.emp_by_occupation
    UNION ALL SELECT 'emp_by_status' AS table_id, * FROM ilmq.emp_by_status
    UNION ALL SELECT 'earnings_employees' AS table_id, * FROM ilmq.earnings_employees
    UNION ALL SELECT 'inflow_by_activity' AS table_id, * FROM ilmq.inflow_by_activity
    UNION ALL SELECT 'inflow_by_occupation' AS table_id, * FROM ilmq.inflow_by_occupation
    UNION ALL SELECT 'inflow_by_birth_country' AS table_id, * FROM ilmq.inflow_by_birth_country
    UNION ALL SELECT 'inflow_by_citizenship' AS table_id, * FROM ilmq.inflow_by_citizenship
    UNION ALL SELECT 'outflow_by_destination' AS table_id, * FROM ilmq.outflow_by_destination
    UNION ALL SELECT 'outflow_by_activity' AS table_id, * FROM ilmq.outflow_by_activity
    UNION ALL SELECT 'outflow_by_occupation' AS table_id, * FROM ilmq.outflow_by_occupation
    UNION ALL SELECT 'outflow_by_education' AS table_id, * FROM ilmq.outflow_by_education
    UNION ALL SELECT 'returns_by_previous_residence' AS table_id, * FROM ilmq.returns_by_previous_residence
    UNION ALL SELECT 'nationals_abroad_by_residence' AS table_id, * FROM ilmq.nationals_abroad_by_residence
)
SELECT l.table_id, t.family, l.ref_area, l.round, l.indicator, l.source, l.sex, l.classif1, l.classif2, l.time,
       l.obs_value, l.obs_status, l.note, l.cell, l.submission_sha256
FROM loaded AS l
JOIN staging.registry_tables AS t USING (table_id)
