-- Jumps inside the submission: a value more than $max_ratio times (or less than 1/$max_ratio of) the one of
-- the previous year the series reports, where the larger of the two is at least $min_value (negative values
-- are the expectations' business). Reads obs.
WITH series AS (
    SELECT *, lag(obs_value) OVER w AS prev_value, lag(time) OVER w AS prev_time, lag(cell) OVER w AS prev_cell
    FROM obs
    WHERE obs_value IS NOT NULL
    WINDOW w AS (PARTITION BY table_id, indicator, sex, classif1, classif2 ORDER BY time)
)
SELECT 'yoy_jump' AS rule, table_id, cell, 'warning' AS severity,
       format('between {:.3f} and {:.3f}', prev_value / $max_ratio, prev_value * $max_ratio) AS expected,
       format('{:.3f}', obs_value) AS found,
       format('{} is {:.3f} in {} ({}) after {:.3f} in {} ({}): beyond x{} from one reported year to the next; '
              'check the unit (thousands) and the figures', indicator, obs_value, time, cell, prev_value, prev_time,
              prev_cell, $max_ratio) AS message
FROM series
WHERE greatest(obs_value, prev_value) >= $min_value AND least(obs_value, prev_value) >= 0
  AND (obs_value > prev_value * $max_ratio OR prev_value > obs_value * $max_ratio)
