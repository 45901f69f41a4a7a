-- Targets per indicator, milestone year and level ('*' expanded), one row per version.
CREATE TABLE IF NOT EXISTS {db}.targets (
    catalog_version String,
    indicator       String,
    year            UInt16,
    deadline        Date,
    level           String,
    target          Float64,
    comparison      String,
    tolerance       Float64,
    direction       String,
    loaded_at       DateTime
) ENGINE = ReplacingMergeTree(loaded_at)
ORDER BY (catalog_version, indicator, year, level)
