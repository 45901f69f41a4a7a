// Package history keeps the score history in ClickHouse (cds.score_history,
// cds.score_history_units; docs/analysts.md): the scores of the API at
// every month-end since the catalogue's baseline and today, recomputed by a
// Refresher when late events or corrections change a past month, and read
// back by a Store for the board's trend charts.
//
// # What is written
//
// For every point (each month-end from the catalogue baseline up to today,
// plus today; days in province time), every milestone of the catalogue and
// every level, the Refresher asks scores.Engine.Level for the scores of the
// units in force, exactly as GET /v1/scores computes them, and inserts one
// row per unit and indicator into cds.score_history and one per unit
// (composite, rank) into cds.score_history_units. Scoring is never
// re-implemented in SQL. The dates are scored 24 at a time by an Engine of
// scores.Engine.Preloaded: one query of the cells for all of them, from the
// copies of cds.rollup (cds.rollup_sums: whole years, months and days;
// docs/design.md, "Score snapshots") while their commit markers agree with
// cds.rollup's, and every answer of the same commits.
//
// # Versions
//
// Both tables are ReplacingMergeTree(version), keyed by milestone, level,
// unit, (indicator,) as_of. A recomputed point is inserted again with a
// higher version (the refresh's start in ns); a query reads the latest row
// of each key with FINAL, or through the views cds.score_history_latest and
// cds.score_history_units_latest (docs/analysts.md). The first refresh of a
// process recomputes every point, then deletes the rows of older versions
// (ALTER … DELETE), so keys that no longer exist (a unit dropped from the
// registry, an older "today") go away. When the day changes, the rows of the
// previous "today" are deleted unless it was a month-end.
//
// # Detecting changes
//
// A point at date D depends only on cells of cds.rollup with day <= D (a
// stock sums every cell up to D, a flow those of D's year up to D, a
// reported figure those up to D; the baseline snapshot is earlier than every
// point). So when cells of day d change, exactly the points at or after d
// are stale. Each refresh first reads the projector's commit markers
// (indicator '#watermark', see projector/doc.go): they move with every
// commit, so while they stand still nothing changed and the refresh reads no
// more. When they moved, it reads a fingerprint of the cells per month
// (chdb.DB.MonthPrintsCopies, from the month rows of cds.rollup_sums with
// the markers checked in the same query; chdb.DB.MonthPrints, by the scan
// of cds.rollup, when they disagree): sums of the cells' num, den and n weighted by a hash of
// the cell's key, in wrapping integer arithmetic, which is linear and so does
// not change when SummingMergeTree merges rows. The first month whose
// fingerprint differs from the last refresh's gives the first stale point;
// all points from there on are recomputed.
package history
