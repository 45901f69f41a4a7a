-- Fills cds.rollup_marks (0023) with the commit markers of each INSERT into
-- cds.rollup, in the same INSERT.
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.rollup_marks_view TO {db}.rollup_marks AS
SELECT unit, dim, num, den, n
FROM {db}.rollup
WHERE indicator = '#watermark'
