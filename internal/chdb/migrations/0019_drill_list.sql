-- The drill-down's listing (docs/design.md, "The drill-down table"): one
-- row per event of a keyed type that entered its key's timeline, with
-- next_at, the occurred_at of the next valid event of the same key in the
-- timeline's order (occurred_at, then tie = cityHash64(id)); 4294967295
-- (2106-02-07) for the latest. A retracted or superseded event keeps its
-- row with next_at = its own occurred_at, so it never counts. The events
-- of a drill-down at as_of are then the rows with occurred_at <= as_of <
-- next_at (and occurred_at >= 1 January of as_of's year for a flow).
-- removes is 1 for an event of a type that ends its key (a stock's
-- service.withdrawn, enterprise.closed): such a key is not listed.
-- Ordered by occurred_at before agency: a page reads the days that
-- cds.drill_days (0020) says hold it, for the province (every agency) as
-- for a unit; small granules, so that a few days are a few granules.
-- Rows are replaced by version: seq is the last stream sequence of the
-- commit that wrote the row, and every batch writes its rows before its
-- commit marker, like cds.events. Readers resolve the versions with FINAL
-- over the days they read.
-- The row with entity '' is the table's marker: seq is the last commit it
-- reflects, written in the same INSERT (one part) as that commit's rows. A
-- reader trusts the table only when its marker (and cds.drill_days') is
-- the commit it reads; the projector's recovery refills both from
-- cds.events when a marker is not the committed position or rows above it
-- are there (an unfinished batch: its rows may have replaced committed
-- ones in a merge, so they are not deleted but the tables refilled).
-- Internal to the API; analysts want cds.events (docs/analysts.md, "The
-- drill-down's query").
CREATE TABLE IF NOT EXISTS {db}.drill_list (
    entity      String,
    agency      String,
    occurred_at DateTime('Asia/Ho_Chi_Minh'),
    tie         UInt64,
    next_at     DateTime('Asia/Ho_Chi_Minh'),
    removes     UInt8,
    seq         UInt64
) ENGINE = ReplacingMergeTree(seq)
PARTITION BY tuple()
ORDER BY (entity, occurred_at, tie, agency)
SETTINGS index_granularity = 1024
