-- cds.rollup ordered by month first (docs/design.md, "Score snapshots"):
-- the cells and the commit markers of cds.rollup, kept by the view
-- rollup_days_view (0018) in the same INSERT as the projector's commit, so
-- that the days of one month are read without the others. The markers'
-- month is 1970-01-01 (their day is 0). Internal to the scores; analysts
-- want cds.cells. Small granules: a read takes a few ranges of the key and
-- the markers, which sort first.
CREATE TABLE IF NOT EXISTS {db}.rollup_days (
    month     Date,
    indicator String,
    unit      String,
    period    UInt16,
    dim       String,
    day       Date,
    num       Float64,
    den       Float64,
    n         Int64
) ENGINE = SummingMergeTree((num, den, n))
ORDER BY (month, indicator, unit, period, dim, day)
SETTINGS index_granularity = 1024
