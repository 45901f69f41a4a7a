-- cds.rollup summed per year (docs/design.md, "Score snapshots"): the cells
-- and the commit markers of cds.rollup with day replaced by the first day
-- of its year, kept by the view rollup_years_view (0020) in the same INSERT
-- as the projector's commit: the years before a snapshot's year, read with
-- cds.rollup_months and cds.rollup_days. Internal to the scores; analysts
-- want cds.cells. Small granules: a read takes a few ranges of the key and
-- the markers, which sort first.
CREATE TABLE IF NOT EXISTS {db}.rollup_years (
    indicator String,
    unit      String,
    period    UInt16,
    dim       String,
    year      Date,
    num       Float64,
    den       Float64,
    n         Int64
) ENGINE = SummingMergeTree((num, den, n))
ORDER BY (indicator, unit, period, dim, year)
SETTINGS index_granularity = 1024
