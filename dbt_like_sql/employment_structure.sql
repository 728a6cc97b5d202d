/*
description: >
  Employment of migrants and non-migrants by economic activity (sector), occupation, status in employment,
  education and age: one row per country, reference year, sex, migratory basis, breakdown and category
  (latest vintage), from the employment tables (ILOSTAT subject TEMP). Migrants are foreign-born (basis CBR)
  or non-citizens (basis CCT). Categories of one breakdown come in several code lists that overlap (e.g.
  ECO_SECTOR_* and ECO_AGGREGATE_*; ECO_SECTOR_NAG = TOTAL - AGR): add up categories only within one
  code_list, leaving out the total and NAG. Counts in thousands, shares in percent.
schema: marts
columns:
  ref_area: Reporting (host) country, ISO 3166-1 alpha-3.
  time: Reference year.
  sex: SEX_T, SEX_M or SEX_F.
  basis: CBR (migrants = foreign-born) or CCT (migrants = non-citizens).
  breakdown: economic_activity, occupation, status_in_employment, education or age.
  code_list: The code list of the category, e.g. ECO_SECTOR (sectors), ECO_AGGREGATE, OCU_SKILL, OCU_ISCO08, STE_ICSE93.
  classif1: Category code (ILOSTAT), e.g. ECO_SECTOR_AGR.
  category: Category label.
  position: Order of the category in the questionnaire (1 = total).
  is_total: True on the breakdown's total row.
  migrants_thousands: Employed migrants in the category (thousands).
  nonmigrants_thousands: Employed non-migrants in the category (thousands).
  total_thousands: Total employment in the category, all migratory statuses (thousands).
  migrant_distribution_pct: Share of the category in total migrant employment (%), category / total row.
  nonmigrant_distribution_pct: Share of the category in total non-migrant employment (%).
  migrant_share_pct: Migrants as a share of the category's total employment (%).
  vintage_round: Most recent collection round among the values used on the row.
*/
WITH emp AS (
    SELECT
        l.ref_area, l.time, l.sex, split_part(l.classif2, '_', 1) AS basis, t.classification AS breakdown,
        l.classif1, c.label AS category, c.position, c.is_total,
        CASE WHEN l.classif2 IN ('CBR_BIR_FOREIGN', 'CCT_CIT_NONCIT') THEN 'migrant'
             WHEN l.classif2 IN ('CBR_BIR_NATIVE', 'CCT_CIT_CITIZEN') THEN 'nonmigrant'
             WHEN l.classif2 IN ('CBR_BIR_TOTAL', 'CCT_CIT_TOTAL') THEN 'total' END AS status,
        l.obs_value, l.round
    FROM staging.latest AS l
    JOIN staging.registry_tables AS t USING (table_id)
    JOIN staging.registry_categories AS c ON c.classification = t.classification AND c.code = l.classif1
    WHERE t.family = 'stock' AND split_part(l.indicator, '_', 2) = 'TEMP' AND l.obs_value IS NOT NULL
),
wide AS (
    SELECT
        ref_area, time, sex, basis, breakdown, classif1, category, position, is_total,
        max(obs_value) FILTER (status = 'migrant') AS migrants,
        max(obs_value) FILTER (status = 'nonmigrant') AS nonmigrants,
        max(obs_value) FILTER (status = 'total') AS total,
        max(round) AS vintage_round
    FROM emp
    WHERE status IS NOT NULL
    GROUP BY ALL
)
SELECT
    ref_area, time, sex, basis, breakdown,
    regexp_replace(classif1, '_[^_]+$', '') AS code_list,  -- ECO_SECTOR_AGR -> ECO_SECTOR
    classif1, category, position, is_total,
    migrants AS migrants_thousands,
    nonmigrants AS nonmigrants_thousands,
    total AS total_thousands,
    100 * migrants / nullif(max(migrants) FILTER (is_total) OVER breakdown_of, 0) AS migrant_distribution_pct,
    100 * nonmigrants / nullif(max(nonmigrants) FILTER (is_total) OVER breakdown_of, 0) AS nonmigrant_distribution_pct,
    100 * migrants / nullif(total, 0) AS migrant_share_pct,
    vintage_round
FROM wide
WINDOW breakdown_of AS (PARTITION BY ref_area, time, sex, basis, breakdown)
ORDER BY ref_area, time, basis, sex, breakdown, position
