-- The projector's fold index (package fold, "The index"): what the fold
-- needs to know of the log without holding it in memory, by lookup:
--   'i:<event id>'          one row per applied event; key = the natural key
--                           of the timeline it entered ('' for none);
--   'k:<natural key>'       one row per entry added to the key's timeline
--                           (op = 1, with the entry: id, agency, at in unix
--                           seconds, period, day number since 1970-01-01 and
--                           the contributions) or removed by a correction or
--                           retraction (op = -1, id);
--   's:<agency>/<event id>' a correction of agency superseded the event.
-- seq is the stream sequence of the event that wrote the row: rows above the
-- watermark are an unfinished batch and are deleted on recovery, like those
-- of cds.events. Small granules: the projector reads it by point lookups.
-- Internal to the projector; analysts want cds.events and cds.cells.
CREATE TABLE IF NOT EXISTS {db}.fold_index (
    lookup  String,
    id      String,
    key     String,
    seq     UInt64,
    op      Int8,
    agency  String,
    at      Int64,
    period  UInt16,
    day     Int32,
    c_ind   Array(String),
    c_dim   Array(String),
    c_num   Array(Float64),
    c_den   Array(Float64)
) ENGINE = MergeTree()
PARTITION BY tuple()
ORDER BY lookup
SETTINGS index_granularity = 1024
