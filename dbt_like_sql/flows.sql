/*
description: >
  Labour migration flows by country, reference year, sex and category (latest vintage): inflows of foreign
  workers by economic activity and occupation, and of foreign nationals by country of birth and citizenship
  (flow = inflow, reported by the host country); outflows of nationals for employment by destination,
  economic activity, occupation and education (flow = outflow, reported by the origin country). One row per
  reported value (markers left out; see staging.latest). Counts in thousands, shares in percent. Categories
  of one table may overlap (ECO_SECTOR_* and ECO_AGGREGATE_*, OCU_SKILL_* and OCU_ISCO08_*): add up only
  within one code list.
schema: marts
columns:
  ref_area: Reporting country (host country for inflows, origin country for outflows), ISO 3166-1 alpha-3.
  time: Reference year.
  flow: inflow or outflow.
  table_id: ILMQ table the value comes from.
  indicator: ILOSTAT indicator code.
  breakdown: Classification of the categories (economic_activity, occupation, education, destination, country_of_birth, country_of_citizenship).
  classif1: Category code, e.g. ECO_SECTOR_AGR or CDS_DES_THA (destination Thailand).
  category: Category label (country name for by-country tables).
  is_total: True on the table's total row.
  sex: SEX_T, SEX_M or SEX_F.
  value_thousands: Number of persons (thousands).
  pct_of_total: The category as a share of the table's total for the same sex (%).
  female_share_pct: Women in the category (%), SEX_F / SEX_T; on SEX_T rows only.
  vintage_round: Collection round of the value (latest vintage).
*/
SELECT
    l.ref_area, l.time, t.family AS flow, l.table_id, l.indicator, t.classification AS breakdown, l.classif1,
    c.label AS category, c.is_total, l.sex,
    l.obs_value AS value_thousands,
    100 * l.obs_value / nullif(max(l.obs_value) FILTER (c.is_total) OVER (PARTITION BY l.ref_area, l.time, l.table_id, l.sex), 0)
        AS pct_of_total,
    CASE WHEN l.sex = 'SEX_T' THEN
        100 * max(l.obs_value) FILTER (l.sex = 'SEX_F') OVER (PARTITION BY l.ref_area, l.time, l.table_id, l.classif1)
        / nullif(l.obs_value, 0)
    END AS female_share_pct,
    l.round AS vintage_round
FROM staging.latest AS l
JOIN staging.registry_tables AS t USING (table_id)
JOIN staging.registry_categories AS c ON c.classification = t.classification AND c.code = l.classif1
WHERE t.family IN ('inflow', 'outflow') AND l.obs_value IS NOT NULL
ORDER BY l.ref_area, l.time, flow, l.table_id, c.position, l.sex DESC
