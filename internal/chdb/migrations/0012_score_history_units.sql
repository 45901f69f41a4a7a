-- Composites and ranks for cds.score_history: one row per milestone, unit in
-- force and as_of (month-ends from the baseline, plus today). Written with the
-- rows of cds.score_history by the same refresh; read the latest with FINAL
-- (or cds.score_history_units_latest), see docs/analysts.md.
CREATE TABLE IF NOT EXISTS {db}.score_history_units (
    as_of            Date     COMMENT 'Date scored (province time, Asia/Ho_Chi_Minh): a month-end, or the day of the last refresh ("today")',
    milestone        UInt16   COMMENT 'Milestone year whose targets the row is scored against (2021, 2025, 2030)',
    unit             String   COMMENT 'Organisation-unit code (cds.units.code), in force at as_of',
    name             String   COMMENT 'Vietnamese name of the unit',
    level            String   COMMENT 'Level of the unit: province, department, district or commune',
    composite        Float64  COMMENT 'Weighted mean of the attainments of the indicators with a target (weights of the catalogue)',
    rank             UInt32   COMMENT 'Rank by composite among the units of the level in force at as_of (1 = best; equal composites share a rank)',
    ranked           UInt32   COMMENT 'Number of units of the level ranked at as_of',
    met              UInt16   COMMENT 'Indicators of the unit with status met',
    on_track         UInt16   COMMENT 'Indicators of the unit with status on_track',
    at_risk          UInt16   COMMENT 'Indicators of the unit with status at_risk',
    off_track        UInt16   COMMENT 'Indicators of the unit with status off_track',
    no_data          UInt16   COMMENT 'Indicators of the unit with status no_data',
    catalog_version  String   COMMENT 'Version of the indicator catalogue scored with',
    registry_version String   COMMENT 'Version of the unit registry scored with',
    version          UInt64   COMMENT 'Row version (refresh time in ns since 1970): the highest per key is current; FINAL keeps only it',
    computed_at      DateTime COMMENT 'When the refresher computed the row (server time, UTC)'
) ENGINE = ReplacingMergeTree(version)
ORDER BY (milestone, level, unit, as_of)
