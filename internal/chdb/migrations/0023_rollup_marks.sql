-- The commit markers of cds.rollup alone (docs/design.md, "Score
-- snapshots"): the rows of indicator '#watermark', summed per unit and dim,
-- filled by the view of 0024 within each commit's INSERT into cds.rollup.
-- The API reads them before each request: a few rows per part, where the
-- markers of cds.rollup cost a granule of 8,192 rows of every part. It
-- trusts them only while a read that also reads cds.rollup's markers finds
-- that they agree (internal/scores/store.go); the projector's recovery
-- refills them with cds.rollup_sums when they do not. Internal to the API.
CREATE TABLE IF NOT EXISTS {db}.rollup_marks (
    unit String,
    dim  String,
    num  Float64,
    den  Float64,
    n    Int64
) ENGINE = SummingMergeTree((num, den, n))
ORDER BY (unit, dim)
