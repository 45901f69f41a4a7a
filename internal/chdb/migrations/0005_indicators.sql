-- The indicator catalogue (catalog/indicators.json), one row per indicator and version.
CREATE TABLE IF NOT EXISTS {db}.indicators (
    catalog_version String,
    code            String,
    name_vi         String,
    name_en         String,
    unit            String,
    kind            String,
    direction       String,
    weight          Float64,
    levels          Array(String),
    feeds           Array(String),
    loaded_at       DateTime
) ENGINE = ReplacingMergeTree(loaded_at)
ORDER BY (catalog_version, code)
