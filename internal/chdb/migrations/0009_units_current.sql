-- Units of the registry version loaded last.
CREATE VIEW IF NOT EXISTS {db}.units_current AS
SELECT code, name, name_en, level, parent, valid_from, valid_to, successor, registry_version
FROM {db}.units
WHERE registry_version = (SELECT argMax(version, loaded_at) FROM {db}.reference_loads WHERE kind = 'registry')
