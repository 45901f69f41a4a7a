-- Score history for analysts (docs/analysts.md): the API's indicator scores at every
-- month-end from the catalogue's baseline to today, plus today, per milestone,
-- unit in force and indicator. Written by package history (the refresher in
-- cds serve / cds up) with the API's scoring engine; never computed in SQL.
-- A recomputed row is inserted again with a higher version: read the latest
-- with FINAL (or cds.score_history_latest), see docs/analysts.md.
CREATE TABLE IF NOT EXISTS {db}.score_history (
    as_of           Date              COMMENT 'Date scored (province time, Asia/Ho_Chi_Minh): a month-end, or the day of the last refresh ("today")',
    milestone       UInt16            COMMENT 'Milestone year whose targets the row is scored against (2021, 2025, 2030)',
    unit            String            COMMENT 'Organisation-unit code (cds.units.code), in force at as_of',
    level           String            COMMENT 'Level of the unit: province, department, district or commune',
    indicator       String            COMMENT 'Indicator code (cds.indicators.code), one that applies to the level',
    kind            String            COMMENT 'How the indicator is computed (catalogue kind: flow_ratio, stock_ratio, count, reported_*, rank)',
    numerator       Nullable(Float64) COMMENT 'Numerator of value; NULL when no data',
    denominator     Nullable(Float64) COMMENT 'Denominator of value; NULL when no data',
    value           Nullable(Float64) COMMENT 'Value in the indicator unit: ratios as fractions 0-1, NSLD growth as a fraction, DNS a count, DTI_RANK a rank; NULL when no data',
    target          Nullable(Float64) COMMENT 'Target of the milestone for the level; NULL when the milestone sets none (status no_target)',
    expected        Nullable(Float64) COMMENT 'Value on the straight line from the baseline to the target at as_of; NULL when met, past the deadline, no data or no target',
    baseline        Nullable(Float64) COMMENT 'Value at the catalogue baseline date that the trajectory starts from; NULL when there was none',
    attainment      Float64           COMMENT 'min(value / target, 1), inverted for lower-is-better; 0 when no data',
    status          String            COMMENT 'met, on_track, at_risk, off_track, no_data or no_target (rules: GET /v1/scores)',
    weight          Float64           COMMENT 'Weight of the indicator in the composite (0 when no_target)',
    period          String            COMMENT 'What was counted, e.g. 2025-01-01/2025-06-30, at 2025-06-30, year 2024',
    catalog_version String            COMMENT 'Version of the indicator catalogue scored with (cds.indicators.catalog_version)',
    registry_version String           COMMENT 'Version of the unit registry scored with (cds.units.registry_version)',
    version         UInt64            COMMENT 'Row version (refresh time in ns since 1970): the highest per key is current; FINAL keeps only it',
    computed_at     DateTime          COMMENT 'When the refresher computed the row (server time, UTC)'
) ENGINE = ReplacingMergeTree(version)
ORDER BY (milestone, level, unit, indicator, as_of)
