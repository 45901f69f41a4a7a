-- The raw event log as folded: one row per accepted event id (duplicates of an
-- id are not stored again). seq is the JetStream stream sequence; rows with a
-- seq above the projector's watermark are an unfinished batch and are deleted
-- on recovery. data is the event's data object as compact JSON text ('' for a
-- retraction). No partitions: a batch of late and current events then makes
-- one part per insert instead of one per year (cds bench: drain +10-25%,
-- rebuild +20% against PARTITION BY toYear(occurred_at)); the log is kept for
-- ever, so there are no old partitions to drop.
CREATE TABLE IF NOT EXISTS {db}.events (
    id          String,
    type        String,
    v           UInt8,
    agency      String,
    occurred_at DateTime('Asia/Ho_Chi_Minh'),
    supersedes  String,
    retraction  UInt8,
    data        String,
    seq         UInt64,
    received_at DateTime('Asia/Ho_Chi_Minh')
) ENGINE = MergeTree()
PARTITION BY tuple()
ORDER BY (agency, type, occurred_at, id)
