/*
description: >
  The origin -> destination matrix of labour migration among the reporting countries, and to and from the
  rest of the world (ROW), by reference year, both sexes (SEX_T, latest vintage), with the mirror
  discrepancy between the two reports of the same corridor. The origin reports outflows of its nationals for
  employment by destination (MNA_OEMP_SEX_CDS_NB, CDS_DES_<destination>); the destination reports inflows of
  foreign nationals by citizenship (MFL_NCIT_SEX_CCT_NB, CCT_CTZ_<origin>), or by country of birth
  (MFL_FPOP_SEX_CBR_NB, CBR_BRT_<origin>) where it has no citizenship figure. ROW sums every other partner
  and the partner X (other and not stated); the origin side of ROW -> destination and the destination side of
  origin -> ROW have no report. The two reports measure different things (workers deployed vs. foreign
  nationals admitted), so discrepancies are expected; large ones point at coverage or coding problems. The
  origin's stock of nationals abroad in the destination (MNA_XNAB_SEX_CRS_NB) is given alongside. Counts in
  thousands. One row per corridor and year with at least one report.
schema: marts
columns:
  origin: Origin country (ISO 3166-1 alpha-3), or ROW for the rest of the world.
  origin_name: Name of the origin.
  destination: Destination country (ISO 3166-1 alpha-3), or ROW for the rest of the world.
  destination_name: Name of the destination.
  time: Reference year.
  origin_reported_thousands: Outflows of nationals for employment to the destination, as reported by the origin (thousands).
  destination_reported_thousands: Inflows of nationals of the origin, as reported by the destination (thousands).
  destination_basis: citizenship or birth, the classification the destination's figure is by.
  mirror_discrepancy_thousands: origin_reported_thousands - destination_reported_thousands (thousands); NULL unless both report.
  mirror_discrepancy_pct: The discrepancy relative to the larger of the two reports (%), from -100 to 100.
  nationals_abroad_thousands: Nationals of the origin residing in the destination, as reported by the origin (thousands, stock).
  vintage_round: Most recent collection round among the values used on the row.
*/
WITH reporting AS (
    SELECT iso3 FROM staging.reporting_countries
),
by_partner AS (
    -- SEX_T values of the by-country tables with the partner folded into the reporting countries and ROW
    SELECT
        l.ref_area, l.time, t.classification, l.round, l.obs_value, l.classif1,
        CASE WHEN split_part(l.classif1, '_', 3) IN (SELECT iso3 FROM reporting) THEN split_part(l.classif1, '_', 3)
             ELSE 'ROW' END AS partner
    FROM staging.latest AS l
    JOIN staging.registry_tables AS t USING (table_id)
    WHERE l.sex = 'SEX_T' AND l.obs_value IS NOT NULL AND l.classif1 <> t.total_category
      AND split_part(l.classif1, '_', 3) <> l.ref_area
      AND t.classification IN ('destination', 'country_of_citizenship', 'country_of_birth', 'residence')
),
summed AS (
    -- summed in a fixed order: the same inputs give the same bits on every rebuild (content digests compare)
    SELECT ref_area, partner, time, classification, sum(obs_value ORDER BY classif1, obs_value) AS value, max(round) AS round
    FROM by_partner
    GROUP BY ALL
),
origin_side AS (
    SELECT ref_area AS origin, partner AS destination, time, value, round
    FROM summed WHERE classification = 'destination'
),
abroad AS (
    SELECT ref_area AS origin, partner AS destination, time, value, round
    FROM summed WHERE classification = 'residence'
),
destination_side AS (
    SELECT partner AS origin, ref_area AS destination, time, value, round,
           CASE classification WHEN 'country_of_citizenship' THEN 'citizenship' ELSE 'birth' END AS basis
    FROM summed WHERE classification IN ('country_of_citizenship', 'country_of_birth')
    QUALIFY row_number() OVER (PARTITION BY partner, ref_area, time
                               ORDER BY classification = 'country_of_citizenship' DESC) = 1
),
corridors AS (
    SELECT
        coalesce(o.origin, d.origin) AS origin, coalesce(o.destination, d.destination) AS destination,
        coalesce(o.time, d.time) AS time,
        o.value AS origin_reported, d.value AS destination_reported, d.basis, greatest(o.round, d.round) AS round
    FROM origin_side AS o
    FULL JOIN destination_side AS d USING (origin, destination, time)
)
SELECT
    c.origin, coalesce(co.name, 'Rest of the world') AS origin_name,
    c.destination, coalesce(cd.name, 'Rest of the world') AS destination_name,
    c.time,
    c.origin_reported AS origin_reported_thousands,
    c.destination_reported AS destination_reported_thousands,
    c.basis AS destination_basis,
    c.origin_reported - c.destination_reported AS mirror_discrepancy_thousands,
    100 * (c.origin_reported - c.destination_reported)
        / nullif(greatest(c.origin_reported, c.destination_reported), 0) AS mirror_discrepancy_pct,
    a.value AS nationals_abroad_thousands,
    greatest(c.round, a.round) AS vintage_round
FROM corridors AS c
LEFT JOIN abroad AS a USING (origin, destination, time)
LEFT JOIN staging.registry_countries AS co ON co.iso3 = c.origin
LEFT JOIN staging.registry_countries AS cd ON cd.iso3 = c.destination
ORDER BY c.origin, c.destination, c.time
