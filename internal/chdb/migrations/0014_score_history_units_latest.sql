-- cds.score_history_units with only the latest version of each row.
CREATE VIEW IF NOT EXISTS {db}.score_history_units_latest AS
SELECT as_of, milestone, unit, name, level, composite, rank, ranked, met, on_track, at_risk,
       off_track, no_data, catalog_version, registry_version, version, computed_at
FROM {db}.score_history_units FINAL
