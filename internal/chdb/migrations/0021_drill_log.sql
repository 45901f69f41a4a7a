-- The changes each commit made to cds.drill_list (0019), kept for a while
-- (docs/design.md, "The drill-down table"): a reader pinned at commit C
-- while later commits land reads cds.drill_list and cds.drill_days as
-- they are (at their markers' commit M) and takes back the changes of the
-- commits after C, so that a drill-down's page and total are those of C,
-- the commit its score was read at, however many commits land meanwhile.
-- One row per row a commit wrote into cds.drill_list (seq the commit,
-- next_at its new next, before_at its next before the commit: occurred_at
-- for an entry not in its timeline before), and one marker row per commit
-- (entity '', seq the commit, prev the commit it continues), all in one
-- INSERT (one part) before that commit's rows of cds.drill_list and
-- cds.drill_days: whatever commit a reader finds those at, its changes are
-- here, and a reader trusts the rows of C+1..M only when the markers chain
-- from M back to C. A plain MergeTree: rows are never replaced or summed.
-- Partitioned by ranges of 524288 sequences: the projector drops the
-- ranges before the one preceding its commit's, so the table holds the
-- last 0.5–1M sequences of changes; a reader pinned before them (or
-- before a refill, which writes no changes here) reads from cds.events.
-- Internal to the API.
CREATE TABLE IF NOT EXISTS {db}.drill_log (
    seq         UInt64,
    entity      String,
    agency      String,
    occurred_at DateTime('Asia/Ho_Chi_Minh'),
    tie         UInt64,
    next_at     DateTime('Asia/Ho_Chi_Minh'),
    before_at   DateTime('Asia/Ho_Chi_Minh'),
    removes     UInt8,
    prev        UInt64
) ENGINE = MergeTree()
PARTITION BY intDiv(seq, 524288)
ORDER BY (seq, entity, occurred_at)
SETTINGS index_granularity = 1024
