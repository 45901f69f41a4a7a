-- cds.drill (0017) gives way to cds.drill_list (0019), the same rows
-- ordered by occurred_at before agency, and cds.drill_days (0020), their
-- counts per day (docs/design.md, "The drill-down table"). A new name
-- rather than the old table again: on a cluster, a replica that dropped
-- and re-created a replicated table of the same name would find the old
-- one's structure in ZooKeeper while another replica still has it. The
-- projector's recovery fills the new tables from cds.events (their
-- markers are not its commit); until then drill-downs are read from
-- cds.events.
DROP TABLE IF EXISTS {db}.drill
