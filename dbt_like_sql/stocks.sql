/*
description: >
  Migrant workers and the labour market of migrants versus non-migrants, by country, reference year, sex and
  migratory basis (latest vintage). Migrants are the foreign-born (basis CBR, CBR_BIR_FOREIGN) or non-citizens
  (basis CCT, CCT_CIT_NONCIT); non-migrants the native-born (CBR_BIR_NATIVE) or citizens (CCT_CIT_CITIZEN);
  countries report one basis or both, so always filter or group by basis. Each quantity is the total row
  (the table's first category) of the stock tables, taken from the by-age table, else by education, economic
  activity, occupation, status in employment. Counts in thousands, rates and shares in percent. Rates:
  participation = labour force / working-age population, employment-to-population = employment / working-age
  population, unemployment = unemployed / labour force. Earnings gap = (non-migrant - migrant) / non-migrant
  mean monthly earnings of employees, so a positive gap means migrants earn less.
schema: marts
columns:
  ref_area: Reporting (host) country, ISO 3166-1 alpha-3.
  time: Reference year.
  sex: SEX_T (both sexes), SEX_M or SEX_F.
  basis: CBR (migrants = foreign-born) or CCT (migrants = non-citizens).
  migrants: What migrant means on this row, foreign-born or non-citizens.
  migrant_workers_thousands: Employed migrants (thousands).
  nonmigrant_workers_thousands: Employed non-migrants (thousands).
  employment_thousands: Total employment, all migratory statuses including not stated (thousands).
  migrant_labour_force_thousands: Migrants in the labour force (thousands).
  labour_force_thousands: Total labour force (thousands).
  migrant_share_of_employment_pct: Migrant workers as a share of total employment (%).
  migrant_share_of_labour_force_pct: Migrants as a share of the total labour force (%).
  female_share_of_migrant_workers_pct: Women among employed migrants (%), SEX_F / SEX_T; on SEX_T rows only.
  lfpr_migrants_pct: Labour force participation rate of migrants (%).
  lfpr_nonmigrants_pct: Labour force participation rate of non-migrants (%).
  epr_migrants_pct: Employment-to-population ratio of migrants (%).
  epr_nonmigrants_pct: Employment-to-population ratio of non-migrants (%).
  ur_migrants_pct: Unemployment rate of migrants (%).
  ur_nonmigrants_pct: Unemployment rate of non-migrants (%).
  earnings_migrants: Mean monthly earnings of migrant employees (local currency).
  earnings_nonmigrants: Mean monthly earnings of non-migrant employees (local currency).
  earnings_gap_pct: (earnings_nonmigrants - earnings_migrants) / earnings_nonmigrants (%).
  vintage_round: Most recent collection round among the values used on the row.
*/
WITH totals AS (
    -- The total row of every stock table, by sex and migratory status; per quantity, the first table reporting it.
    SELECT
        l.ref_area, l.time, l.sex, split_part(l.classif2, '_', 1) AS basis,
        CASE WHEN l.classif2 IN ('CBR_BIR_FOREIGN', 'CCT_CIT_NONCIT') THEN 'migrant'
             WHEN l.classif2 IN ('CBR_BIR_NATIVE', 'CCT_CIT_CITIZEN') THEN 'nonmigrant'
             WHEN l.classif2 IN ('CBR_BIR_TOTAL', 'CCT_CIT_TOTAL') THEN 'total' END AS status,
        split_part(l.indicator, '_', 2) AS measure,  -- ILOSTAT subject: XWAP, TEAP, TEMP, TUNE, TEIP, EARA
        l.obs_value, l.round
    FROM staging.latest AS l
    JOIN staging.registry_tables AS t USING (table_id)
    WHERE t.family = 'stock' AND l.classif1 = t.total_category AND l.obs_value IS NOT NULL
    QUALIFY row_number() OVER (
        PARTITION BY l.ref_area, l.time, l.sex, basis, status, measure
        ORDER BY list_position(['age', 'education', 'economic_activity', 'occupation', 'status_in_employment'],
                               t.classification) NULLS LAST
    ) = 1
),
wide AS (
    SELECT
        ref_area, time, sex, basis,
        max(obs_value) FILTER (measure = 'XWAP' AND status = 'migrant') AS wap_m,
        max(obs_value) FILTER (measure = 'XWAP' AND status = 'nonmigrant') AS wap_n,
        max(obs_value) FILTER (measure = 'TEAP' AND status = 'migrant') AS lf_m,
        max(obs_value) FILTER (measure = 'TEAP' AND status = 'nonmigrant') AS lf_n,
        max(obs_value) FILTER (measure = 'TEAP' AND status = 'total') AS lf_t,
        max(obs_value) FILTER (measure = 'TEMP' AND status = 'migrant') AS emp_m,
        max(obs_value) FILTER (measure = 'TEMP' AND status = 'nonmigrant') AS emp_n,
        max(obs_value) FILTER (measure = 'TEMP' AND status = 'total') AS emp_t,
        max(obs_value) FILTER (measure = 'TUNE' AND status = 'migrant') AS unemp_m,
        max(obs_value) FILTER (measure = 'TUNE' AND status = 'nonmigrant') AS unemp_n,
        max(obs_value) FILTER (measure = 'EARA' AND status = 'migrant') AS earn_m,
        max(obs_value) FILTER (measure = 'EARA' AND status = 'nonmigrant') AS earn_n,
        max(round) AS vintage_round
    FROM totals
    WHERE status IS NOT NULL AND basis IN ('CBR', 'CCT')
    GROUP BY ref_area, time, sex, basis
)
SELECT
    ref_area, time, sex, basis,
    CASE basis WHEN 'CBR' THEN 'foreign-born' ELSE 'non-citizens' END AS migrants,
    emp_m AS migrant_workers_thousands,
    emp_n AS nonmigrant_workers_thousands,
    emp_t AS employment_thousands,
    lf_m AS migrant_labour_force_thousands,
    lf_t AS labour_force_thousands,
    100 * emp_m / nullif(emp_t, 0) AS migrant_share_of_employment_pct,
    100 * lf_m / nullif(lf_t, 0) AS migrant_share_of_labour_force_pct,
    CASE WHEN sex = 'SEX_T' THEN
        100 * max(emp_m) FILTER (sex = 'SEX_F') OVER (PARTITION BY ref_area, time, basis) / nullif(emp_m, 0)
    END AS female_share_of_migrant_workers_pct,
    100 * lf_m / nullif(wap_m, 0) AS lfpr_migrants_pct,
    100 * lf_n / nullif(wap_n, 0) AS lfpr_nonmigrants_pct,
    100 * emp_m / nullif(wap_m, 0) AS epr_migrants_pct,
    100 * emp_n / nullif(wap_n, 0) AS epr_nonmigrants_pct,
    100 * unemp_m / nullif(lf_m, 0) AS ur_migrants_pct,
    100 * unemp_n / nullif(lf_n, 0) AS ur_nonmigrants_pct,
    earn_m AS earnings_migrants,
    earn_n AS earnings_nonmigrants,
    100 * (earn_n - earn_m) / nullif(earn_n, 0) AS earnings_gap_pct,
    vintage_round
FROM wide
ORDER BY ref_area, time, basis, sex
