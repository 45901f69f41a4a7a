-- The organisation-unit registry, effective-dated (valid_to NULL = open).
CREATE TABLE IF NOT EXISTS {db}.units (
    registry_version String,
    code             String,
    name             String,
    name_en          String,
    level            String,
    parent           String,
    valid_from       Date,
    valid_to         Nullable(Date),
    successor        String,
    loaded_at        DateTime
) ENGINE = ReplacingMergeTree(loaded_at)
ORDER BY (registry_version, code)
