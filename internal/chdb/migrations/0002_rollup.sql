-- Rollup cells (see package fold): changes to numerator, denominator and
-- number of states per indicator, unit, period (0 for stocks, else a year),
-- dimension and day. Values at a date are sums over day <= date.
-- Rows with indicator '#watermark' are the projector's commit marker: sum(n)
-- over them is the last stream sequence folded. They are written in the same
-- single-part INSERT as the cells of their batch, which is what makes a batch
-- atomic. Exclude them (WHERE indicator != '#watermark') or use cds.cells.
CREATE TABLE IF NOT EXISTS {db}.rollup (
    indicator String,
    unit      String,
    period    UInt16,
    dim       String,
    day       Date,
    num       Float64,
    den       Float64,
    n         Int64
) ENGINE = SummingMergeTree((num, den, n))
ORDER BY (indicator, unit, period, dim, day)
