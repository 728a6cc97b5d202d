/*
description: >
  Returning migrant workers (nationals coming back from employment abroad) by reporting country, reference
  year, sex and country of previous residence (latest vintage), set against the outflows of nationals for
  employment to the same country in the same year: return ratio = returnees / outflows. partner TOTAL is all
  countries, X other countries and not stated. Counts in thousands, ratio in percent (it may exceed 100).
schema: marts
columns:
  ref_area: Reporting (origin) country, ISO 3166-1 alpha-3.
  time: Reference year.
  sex: SEX_T, SEX_M or SEX_F.
  previous_residence: Category code of the country of previous residence (CPR_PRV_<ISO3>, _TOTAL, _X).
  partner: ISO3 code of the country of previous residence, or TOTAL, or X.
  partner_name: Name of the partner (Total; Other countries and not stated).
  returnees_thousands: Returning migrant workers (thousands).
  outflows_thousands: Outflows of nationals for employment to the same partner, same year and sex (thousands).
  return_ratio_pct: returnees_thousands / outflows_thousands (%).
  vintage_round: Most recent collection round among the values used on the row.
*/
WITH returns AS (
    SELECT l.ref_area, l.time, l.sex, l.classif1, split_part(l.classif1, '_', 3) AS partner, c.label AS partner_name,
           c.position, l.obs_value, l.round
    FROM staging.latest AS l
    JOIN staging.registry_tables AS t USING (table_id)
    JOIN staging.registry_categories AS c ON c.classification = t.classification AND c.code = l.classif1
    WHERE t.family = 'return' AND l.obs_value IS NOT NULL
),
outflows AS (
    SELECT l.ref_area, l.time, l.sex, split_part(l.classif1, '_', 3) AS partner, l.obs_value, l.round
    FROM staging.latest AS l
    JOIN staging.registry_tables AS t USING (table_id)
    WHERE t.family = 'outflow' AND t.classification = 'destination' AND l.obs_value IS NOT NULL
)
SELECT
    r.ref_area, r.time, r.sex, r.classif1 AS previous_residence, r.partner, r.partner_name,
    r.obs_value AS returnees_thousands,
    o.obs_value AS outflows_thousands,
    100 * r.obs_value / nullif(o.obs_value, 0) AS return_ratio_pct,
    greatest(r.round, o.round) AS vintage_round
FROM returns AS r
LEFT JOIN outflows AS o USING (ref_area, time, sex, partner)
ORDER BY r.ref_area, r.time, r.position, r.sex DESC
