-- Feeds cds.rollup_sums from every INSERT into cds.rollup, within that
-- INSERT: each row three times (arrayJoin), summed per grain and bucket
-- within the block (ClickHouse 18.16 does not sum a SummingMergeTree's rows
-- on insert, only when it merges parts). One part per commit. A part a
-- replica fetches does not fire it: the table replicates itself. Existing
-- cells are copied by the projector's recovery.
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.rollup_sums_view TO {db}.rollup_sums AS
SELECT arrayJoin([1, 2, 3]) AS grain,
       multiIf(grain = 1, toStartOfYear(day), grain = 2, toStartOfMonth(day), day) AS bucket,
       indicator, unit, period, dim, sum(num) AS num, sum(den) AS den, sum(n) AS n
FROM {db}.rollup
GROUP BY grain, bucket, indicator, unit, period, dim
