-- The rows of cds.drill_list (0019) counted per day (docs/design.md, "The
-- drill-down table"): n rows of entity and agency whose occurred_at falls
-- on day and whose next_at on next_day (days since 1970-01-01 in province
-- time, UTC+7; 49710 for the latest event of a key), of removing type or
-- not; each row is counted twice, under its agency and under agency ''
-- (every agency: the province's reads, a few rows per day). A row counts
-- in a drill-down at as_of when day <= as_of < next_day, so rows whose
-- next_at is on their own day are not counted at all. Kept
-- by deltas: each batch adds -1 where a row's next_at was and +1 where it
-- is now, in one INSERT (one part) with the table's marker, before its
-- commit marker, like cds.drill_list; read with sum(n), never FINAL. A
-- drill-down's total is a sum over the entity's (and units') rows here; a
-- page finds the days that hold it from the counts per day, then reads
-- those days of cds.drill_list.
-- The marker is the rows of entity '' (and agency '', day 0, next_day 0,
-- removes 0): each batch adds its last sequence less the one the table
-- was at, so the table reflects sum(n), and its merges keep one marker row
-- however many commits (a marker row per commit, read by max(), would grow
-- with the table's life). An unfinished batch's deltas are not taken back,
-- and a batch's INSERT landed twice moves the sum past the commit: either
-- way the projector's recovery refills the table (with cds.drill_list).
CREATE TABLE IF NOT EXISTS {db}.drill_days (
    entity   String,
    agency   String,
    day      UInt32,
    next_day UInt32,
    removes  UInt8,
    n        Int64
) ENGINE = SummingMergeTree((n))
PARTITION BY tuple()
ORDER BY (entity, agency, day, next_day, removes)
SETTINGS index_granularity = 1024
