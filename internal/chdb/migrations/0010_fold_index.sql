-- The projector's fold index (package fold, "The index"): what the fold
-- needs to know of the log without holding it in memory, by lookup:
--   'i:<event id>'          one row per applied event; v = the natural key
--                           of the timeline it entered ('' for none);
--   'k:<natural key>'       one row per entry added to the key's timeline or
--                           removed from it by a correction or retraction;
--                           v = the entry, encoded by fold.AppendValue;
--   's:<agency>/<event id>' a correction of agency superseded the event.
-- h = cityHash64(lookup): the sort key (cheaper to sort and to look up than
-- the strings) and what the projector's Bloom filter is loaded from.
-- seq is the stream sequence of the event that wrote the row: rows above the
-- watermark are an unfinished batch and are deleted on recovery, like those
-- of cds.events. Small granules: the projector reads it by point lookups.
-- Internal to the projector; analysts want cds.events and cds.cells.
CREATE TABLE IF NOT EXISTS {db}.fold_index (
    h       UInt64,
    lookup  String,
    seq     UInt64,
    v       String
) ENGINE = MergeTree()
PARTITION BY tuple()
ORDER BY h
SETTINGS index_granularity = 256
