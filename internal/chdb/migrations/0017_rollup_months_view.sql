-- Feeds cds.rollup_months from every INSERT into cds.rollup, within that
-- INSERT. A part a replica fetches does not fire it: the copies replicate
-- themselves. Existing cells are copied by the projector's recovery.
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.rollup_months_view TO {db}.rollup_months AS
SELECT indicator, unit, period, dim, toStartOfMonth(day) AS month, num, den, n
FROM {db}.rollup
