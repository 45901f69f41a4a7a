-- The raw event log as folded: one row per accepted event id (duplicates of an
-- id are not stored again). seq is the JetStream stream sequence; rows with a
-- seq above the projector's watermark are an unfinished batch and are deleted
-- on recovery. data is the event's data object as JSON text ('' for a retraction).
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
PARTITION BY toYear(occurred_at)
ORDER BY (agency, type, occurred_at, id)
