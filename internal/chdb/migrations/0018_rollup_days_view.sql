-- Feeds cds.rollup_days from every INSERT into cds.rollup, within that
-- INSERT (as rollup_months_view does cds.rollup_months).
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.rollup_days_view TO {db}.rollup_days AS
SELECT toStartOfMonth(day) AS month, indicator, unit, period, dim, day, num, den, n
FROM {db}.rollup
