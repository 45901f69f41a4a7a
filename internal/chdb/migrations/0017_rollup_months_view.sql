-- Feeds cds.rollup_months from every INSERT into cds.rollup, within that
-- INSERT, summed per month within the block (ClickHouse 18.16 does not sum
-- a SummingMergeTree's rows on insert, only when it merges parts). A part a
-- replica fetches does not fire it: the copies replicate themselves.
-- Existing cells are copied by the projector's recovery.
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.rollup_months_view TO {db}.rollup_months AS
SELECT toStartOfMonth(day) AS month, indicator, unit, period, dim, sum(num) AS num, sum(den) AS den, sum(n) AS n
FROM {db}.rollup
GROUP BY month, indicator, unit, period, dim
