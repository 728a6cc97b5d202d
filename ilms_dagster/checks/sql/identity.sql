-- Sum identities (codes.yaml `identities`): a total equals the signed sum of its parts, in tables whose
-- unit is additive. With parts left blank, the reported ones may not exceed the total (error) and a sum
-- below it is a warning (unless a part is marked '..' or 'x': then nothing can be said). Reads obs (the
-- submission), identity_terms and rule_tables. Rounding: each of the n reported terms (total and parts) may be off
-- by half the unit's precision, so a sum may miss by n x precision / 2 (rules.yaml).
-- The other two dimensions (of sex, classif1, classif2) and the year fix the group an identity holds in.
WITH terms AS (
    SELECT t.rule, t.identity_id, t.role, t.position, t.sign, t.partial, t.n_parts, t.code,
           o.table_id, o.indicator, o.time, o.obs_value, o.cell, r.precision,
           CASE WHEN t.dimension = 'sex' THEN '' ELSE o.sex END AS g_sex,
           CASE WHEN t.dimension = 'classif1' THEN '' ELSE coalesce(o.classif1, '') END AS g_classif1,
           CASE WHEN t.dimension = 'classif2' THEN '' ELSE coalesce(o.classif2, '') END AS g_classif2
    FROM obs AS o
    JOIN identity_terms AS t
      ON t.code = CASE t.dimension WHEN 'sex' THEN o.sex WHEN 'classif1' THEN o.classif1 ELSE o.classif2 END
    JOIN rule_tables AS r ON r.table_id = o.table_id AND r.additive
),
sums AS (
    SELECT rule, identity_id, table_id, indicator, time, g_sex, g_classif1, g_classif2,
           any_value(partial) AS partial,
           any_value(precision) AS precision,
           any_value(n_parts) AS n_parts,
           any_value(obs_value) FILTER (WHERE role = 'total') AS total,
           any_value(code || ' (' || cell || ')') FILTER (WHERE role = 'total') AS total_ref,
           any_value(cell) FILTER (WHERE role = 'total') AS total_cell,
           sum(sign * obs_value) FILTER (WHERE role = 'part') AS parts,
           count(obs_value) FILTER (WHERE role = 'part') AS parts_reported,
           count(*) FILTER (WHERE role = 'part' AND obs_value IS NULL) AS parts_marked,
           bool_and(sign > 0) FILTER (WHERE role = 'part') AS all_added,
           string_agg(CASE WHEN sign < 0 THEN ' - ' ELSE ' + ' END || code || ' (' || cell || ')', '' ORDER BY position)
               FILTER (WHERE role = 'part' AND obs_value IS NOT NULL) AS parts_text
    FROM terms
    GROUP BY rule, identity_id, table_id, indicator, time, g_sex, g_classif1, g_classif2
),
broken AS (
    SELECT *, parts_reported = n_parts AS complete, regexp_replace(parts_text, '^ \+ ', '') AS parts_refs
    FROM (SELECT *, precision / 2 * (parts_reported + 1) AS tolerance FROM sums)
    WHERE total IS NOT NULL AND parts_reported > 0
      AND ((parts_reported = n_parts AND abs(total - parts) > tolerance + 1e-9)
        OR (parts_reported < n_parts AND all_added AND parts > total + tolerance + 1e-9)
        OR (parts_reported < n_parts AND parts_marked = 0 AND all_added AND parts < total - tolerance - 1e-9))
)
SELECT rule, table_id, total_cell AS cell,
       CASE WHEN complete OR parts > total THEN 'error' ELSE 'warning' END AS severity,
       format('{:.3f}', parts) AS expected,
       format('{:.3f}', total) AS found,
       CASE
           WHEN complete THEN format('{}: {} is {:.3f} but {} = {:.3f} (difference {:+.3f})',
                                     time, total_ref, total, parts_refs, parts, total - parts)
           WHEN parts > total THEN format('{}: the reported parts {} already sum to {:.3f}, above {} = {:.3f}',
                                          time, parts_refs, parts, total_ref, total)
           WHEN partial THEN format('{}: the listed countries {} sum to {:.3f}, below {} = {:.3f}: put the '
                                    'unlisted rest in the _X row, or confirm that only the main partners are known',
                                    time, parts_refs, parts, total_ref, total)
           ELSE format('{}: the reported parts {} cover {:.1f}% of {} = {:.3f}: report the blank categories '
                       '(0 where none, _X where not stated)', time, parts_refs, 100 * parts / total, total_ref, total)
       END AS message
FROM broken
