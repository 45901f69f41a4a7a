-- The latest occurred_at of the rows of cds.events per agency and type,
-- per year, per month and per day (docs/design.md, "Silence"): grain 1
-- with bucket the first day of the year, grain 2 of the month, grain 3 the
-- day (days since 1970-01-01 in province time). Silence at day d reads the
-- years before d's year, the months of d's year before d's month and the
-- days of d's month up to d: three ranges of the key, a few rows per agency
-- and type, however long the log. A ReplacingMergeTree by at: a merge
-- keeps the latest at of a key, so the rows of a key, merged or not, have
-- the maximum of every row written. seq and first_seq are the largest and
-- the smallest stream sequence of the events a row was made of (of one
-- batch, or of every commit for a refill's). The projector writes each batch's rows
-- with the table's marker (grain 0, bucket 0, agency and type '', at 0,
-- seq the batch's last sequence; the last one written survives merges) in
-- one INSERT before its commit marker, like cds.events. A reader at commit
-- C trusts the table when its marker is C or later and takes a key's rows
-- of sequences up to C; a row of events all above C (a batch not committed
-- yet) in a part never merged replaced nothing and is left out; a key whose
-- latest row is above C and was made of events up to C too, or is in a
-- merged part (it may have replaced committed rows), is read from
-- cds.events. A maximum cannot be taken back: the projector's recovery
-- refills the table from cds.events when its marker is not the committed
-- position or rows above it are there. Internal to the API.
CREATE TABLE IF NOT EXISTS {db}.event_lasts (
    grain     UInt8,
    bucket    UInt32,
    agency    String,
    type      String,
    at        DateTime('Asia/Ho_Chi_Minh'),
    seq       UInt64,
    first_seq UInt64
) ENGINE = ReplacingMergeTree(at)
PARTITION BY tuple()
ORDER BY (grain, bucket, agency, type)
SETTINGS index_granularity = 1024
