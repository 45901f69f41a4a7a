-- Feeds cds.drill_list (0019) from every INSERT into cds.drill_log (0021),
-- within that INSERT: the log's rows are the rows a commit writes into the
-- list, with their next_at before the commit (before_at) and the commit
-- marker's prev besides, so a commit's list rows need no INSERT of their
-- own (docs/performance.md, "ClickHouse's CPU per drained event"). The
-- log's part is written first, then the list's, as the two INSERTs did
-- before. The projector's refill writes cds.drill_list directly and no
-- changes into the log; dropping the log's old ranges leaves the list as
-- it is. A projector of an older cds, still inserting into both, writes
-- each row twice with one version (seq): cds.drill_list is replaced by
-- version and read under FINAL, so the copies count once. A part a replica
-- fetches does not fire it: the table replicates itself.
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.drill_list_view TO {db}.drill_list AS
SELECT entity, agency, occurred_at, tie, next_at, removes, seq
FROM {db}.drill_log
