-- Year-on-year jumps inside the submission: a value more than $max_ratio times (or less than 1/$max_ratio
-- of) the previous reference year's, where the larger of the two is at least $min_value (negative values are
-- the expectations' business). Reads obs.
SELECT 'yoy_jump' AS rule, cur.table_id, cur.cell, 'warning' AS severity,
       format('between {:.3f} and {:.3f}', prev.obs_value / $max_ratio, prev.obs_value * $max_ratio) AS expected,
       format('{:.3f}', cur.obs_value) AS found,
       format('{} is {:.3f} in {} ({}) after {:.3f} in {} ({}): beyond x{} from one year to the next; '
              'check the unit (thousands) and the figures', cur.indicator, cur.obs_value, cur.time, cur.cell,
              prev.obs_value, prev.time, prev.cell, $max_ratio) AS message
FROM obs AS cur
JOIN obs AS prev
  ON prev.table_id = cur.table_id AND prev.indicator = cur.indicator AND prev.sex = cur.sex
 AND prev.classif1 = cur.classif1 AND prev.classif2 IS NOT DISTINCT FROM cur.classif2 AND prev.time = cur.time - 1
WHERE greatest(cur.obs_value, prev.obs_value) >= $min_value AND least(cur.obs_value, prev.obs_value) >= 0
  AND (cur.obs_value > prev.obs_value * $max_ratio OR prev.obs_value > cur.obs_value * $max_ratio)
