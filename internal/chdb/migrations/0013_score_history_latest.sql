-- cds.score_history with only the latest version of each row.
CREATE VIEW IF NOT EXISTS {db}.score_history_latest AS
SELECT as_of, milestone, unit, level, indicator, kind, numerator, denominator, value, target,
       expected, baseline, attainment, status, weight, period, catalog_version, registry_version,
       version, computed_at
FROM {db}.score_history FINAL
