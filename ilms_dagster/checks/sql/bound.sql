-- A quantity never above the one that contains it, for the same sex, category, migratory status and
-- year (employment <= labour force <= working-age population), within the rounding of the two figures (one
-- precision of their unit). Reads obs, bound_pairs, rule_tables.
SELECT b.rule, lo.table_id, lo.cell, 'error' AS severity,
       format('<= {:.3f}', hi.obs_value) AS expected,
       format('{:.3f}', lo.obs_value) AS found,
       format('{}, {}, {}{}: {}!{} = {:.3f} exceeds {}!{} = {:.3f}', lo.time, lo.sex, lo.classif1,
              coalesce(', ' || lo.classif2, ''), lo.table_id, lo.cell, lo.obs_value, hi.table_id, hi.cell,
              hi.obs_value) AS message
FROM bound_pairs AS b
JOIN obs AS lo ON lo.table_id = b.lower_table
JOIN obs AS hi
  ON hi.table_id = b.upper_table AND hi.time = lo.time AND hi.sex = lo.sex AND hi.classif1 = lo.classif1
 AND hi.classif2 IS NOT DISTINCT FROM lo.classif2
JOIN rule_tables AS r ON r.table_id = lo.table_id
WHERE lo.obs_value > hi.obs_value + r.precision + 1e-9
