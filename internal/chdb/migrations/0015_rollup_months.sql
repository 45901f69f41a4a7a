-- cds.rollup summed per month (docs/design.md, "Score snapshots"): the
-- cells and the commit markers of cds.rollup with day replaced by the first
-- day of its month, kept by the view rollup_months_view (0017) in the same
-- INSERT as the projector's commit, ordered by month first so that the
-- months of one year are read alone. A snapshot at day d reads the years
-- before d's year in cds.rollup_years, the months of d's year before d's
-- month here and the days of d's month in cds.rollup_days; it trusts them
-- only while their markers sum to what cds.rollup's do. The projector's
-- recovery refills them from cds.rollup when they do not. The markers'
-- month is 1970-01-01 (their day is 0). Internal to the scores; analysts
-- want cds.cells. Small granules: a read takes a few ranges of the key and
-- the markers, which sort first.
CREATE TABLE IF NOT EXISTS {db}.rollup_months (
    month     Date,
    indicator String,
    unit      String,
    period    UInt16,
    dim       String,
    num       Float64,
    den       Float64,
    n         Int64
) ENGINE = SummingMergeTree((num, den, n))
ORDER BY (month, indicator, unit, period, dim)
SETTINGS index_granularity = 1024
