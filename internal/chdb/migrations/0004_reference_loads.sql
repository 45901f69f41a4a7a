-- Each start of a cds server records which catalogue and registry version it
-- loaded; the *_current views show the latest.
CREATE TABLE IF NOT EXISTS {db}.reference_loads (
    kind      String,
    version   String,
    loaded_at DateTime
) ENGINE = MergeTree()
ORDER BY (kind, loaded_at)
