/*
description: >
  The countries of the collection: the registry's reporting countries and every country a submission was
  received from (a workbook from a new country makes it one, as it adds its partition), with its name where
  the registry knows it. Completeness, timeliness and corridors count these, never a fixed list.
schema: staging
columns:
  iso3: ISO 3166-1 alpha-3 code.
  name: Country name (the code where the registry has none).
*/
SELECT iso3, coalesce(any_value(name), iso3) AS name
FROM (
    SELECT iso3, name FROM staging.registry_countries WHERE reporting
    UNION ALL
    SELECT DISTINCT s.ref_area AS iso3, c.name
    FROM raw.submissions AS s LEFT JOIN staging.registry_countries AS c ON c.iso3 = s.ref_area
)
GROUP BY iso3
ORDER BY iso3
