-- cds.rollup summed per month (docs/design.md, "Score snapshots"): the
-- cells and the commit markers of cds.rollup with day replaced by the first
-- day of its month, kept by the view rollup_months_view (0017) in the same
-- INSERT as the projector's commit. A snapshot at day d reads the months
-- before d's month here and the days of d's month in cds.rollup_days; it
-- trusts both only while their markers sum to what cds.rollup's do. The
-- projector's recovery refills it from cds.rollup when they do not.
-- Internal to the scores; analysts want cds.cells.
CREATE TABLE IF NOT EXISTS {db}.rollup_months (
    indicator String,
    unit      String,
    period    UInt16,
    dim       String,
    month     Date,
    num       Float64,
    den       Float64,
    n         Int64
) ENGINE = SummingMergeTree((num, den, n))
ORDER BY (indicator, unit, period, dim, month)
