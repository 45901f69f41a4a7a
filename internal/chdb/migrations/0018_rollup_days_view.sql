-- Feeds cds.rollup_days from every INSERT into cds.rollup, within that
-- INSERT (as rollup_months_view does cds.rollup_months), summed per day
-- within the block.
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.rollup_days_view TO {db}.rollup_days AS
SELECT toStartOfMonth(day) AS month, indicator, unit, period, dim, day, sum(num) AS num, sum(den) AS den, sum(n) AS n
FROM {db}.rollup
GROUP BY month, indicator, unit, period, dim, day
