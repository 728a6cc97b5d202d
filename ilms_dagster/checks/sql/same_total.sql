-- One quantity, one total: the TOTAL row of every table of a group (employment by age, education, activity,
-- ...; outflows by destination, activity, ...) for the same sex, year and migratory status, and the place-of-
-- birth and citizenship totals of a table, are the same figure. The value most cells agree on is the
-- reference; the others are findings, beyond the rounding of two figures (one precision of their unit). Reads
-- obs, total_groups, rule_tables.
WITH totals AS (
    SELECT g.rule, g.group_name, g.position, o.table_id, o.sex, o.time, o.classif2, o.obs_value, o.cell, r.precision,
           CASE WHEN o.classif2 IN ('CBR_BIR_TOTAL', 'CCT_CIT_TOTAL') THEN 'TOTAL' ELSE coalesce(o.classif2, '') END AS status
    FROM obs AS o
    JOIN total_groups AS g ON g.table_id = o.table_id
    JOIN rule_tables AS r ON r.table_id = o.table_id AND o.classif1 = r.total_category
    WHERE o.obs_value IS NOT NULL
),
votes AS (
    SELECT group_name, sex, time, status, round(obs_value, 3) AS value, count(*) AS cells,
           min(position) AS first_position, arg_min(table_id || ' (' || cell || ')', position) AS reference
    FROM totals
    GROUP BY ALL
),
agreed AS (
    SELECT * FROM votes
    QUALIFY row_number() OVER (PARTITION BY group_name, sex, time, status ORDER BY cells DESC, first_position) = 1
)
SELECT t.rule, t.table_id, t.cell, 'error' AS severity,
       format('{:.3f}', a.value) AS expected,
       format('{:.3f}', t.obs_value) AS found,
       format('{}: the total {} is {:.3f} in {} ({}) but {:.3f} in {} ({} cell(s) agree): one quantity, one figure',
              t.time, concat_ws(' ', t.sex, nullif(t.classif2, '')), t.obs_value, t.table_id, t.cell, a.value,
              a.reference, a.cells) AS message
FROM totals AS t
JOIN agreed AS a USING (group_name, sex, time, status)
WHERE abs(t.obs_value - a.value) > t.precision + 1e-9
