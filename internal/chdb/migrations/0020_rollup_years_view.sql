-- Feeds cds.rollup_years from every INSERT into cds.rollup, within that
-- INSERT (as rollup_months_view does cds.rollup_months), summed per year
-- within the block.
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.rollup_years_view TO {db}.rollup_years AS
SELECT indicator, unit, period, dim, toStartOfYear(day) AS year, sum(num) AS num, sum(den) AS den, sum(n) AS n
FROM {db}.rollup
GROUP BY indicator, unit, period, dim, year
