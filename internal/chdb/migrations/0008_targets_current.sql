-- Targets of the catalogue version loaded last.
CREATE VIEW IF NOT EXISTS {db}.targets_current AS
SELECT indicator, year, deadline, level, target, comparison, tolerance, direction, catalog_version
FROM {db}.targets
WHERE catalog_version = (SELECT argMax(version, loaded_at) FROM {db}.reference_loads WHERE kind = 'catalog')
