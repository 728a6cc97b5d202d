-- Revisions: a value that differs by more than $min_change (relative) from what the latest earlier round of
-- the same country reported for the same table, breakdown and year, where either is at least $min_value.
-- Reads obs and earlier (the warehouse's values of earlier rounds for this country).
WITH previous AS (
    SELECT * FROM earlier
    WHERE obs_value IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY table_id, indicator, sex, classif1, classif2, time ORDER BY round DESC) = 1
)
SELECT 'revision' AS rule, o.table_id, o.cell, 'warning' AS severity,
       format('{:.3f}', p.obs_value) AS expected,
       format('{:.3f}', o.obs_value) AS found,
       format('{} revised from {:.3f} (round {}) to {:.3f} ({}): please confirm', o.time, p.obs_value, p.round,
              o.obs_value, coalesce(format('{:+.1f}%', 100 * (o.obs_value - p.obs_value) / nullif(p.obs_value, 0)),
                                    'from zero')) AS message
FROM obs AS o
JOIN previous AS p
  ON p.table_id = o.table_id AND p.indicator = o.indicator AND p.sex = o.sex AND p.classif1 = o.classif1
 AND p.classif2 IS NOT DISTINCT FROM o.classif2 AND p.time = o.time
WHERE greatest(abs(o.obs_value), abs(p.obs_value)) >= $min_value
  AND abs(o.obs_value - p.obs_value) > $min_change * greatest(abs(o.obs_value), abs(p.obs_value))
