-- cds.rollup summed per year, per month and per day (docs/design.md, "Score
-- snapshots"): every cell and commit marker of cds.rollup three times, as
-- grain 1 with bucket the first day of its year, grain 2 with the first
-- day of its month, grain 3 with its day; kept by the view
-- rollup_sums_view (0016) in the same INSERT as the projector's commit.
-- A snapshot at day d reads the years before d's year, the months of d's
-- year before d's month and the days of d's month up to d: three ranges of
-- the key. It trusts them only while the markers of each grain sum to what
-- cds.rollup's do; the projector's recovery refills the table from
-- cds.rollup when they do not. The markers' bucket is 1970-01-01 (their
-- day is 0), first in each grain. Small granules: a read takes a few
-- ranges of the key. Internal to the scores; analysts want cds.cells.
CREATE TABLE IF NOT EXISTS {db}.rollup_sums (
    grain     UInt8,
    bucket    Date,
    indicator String,
    unit      String,
    period    UInt16,
    dim       String,
    num       Float64,
    den       Float64,
    n         Int64
) ENGINE = SummingMergeTree((num, den, n))
ORDER BY (grain, bucket, indicator, unit, period, dim)
SETTINGS index_granularity = 1024
