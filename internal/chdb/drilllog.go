package chdb

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
)

// cds.drill_log (migrations/0021_drill_log.sql): each commit's changes to
// cds.drill_list, written before them, read by the reads pinned at an
// earlier commit (drillread.go).

// DrillLogRange is the width of cds.drill_log's partitions, in stream
// sequences: a commit that enters a new range drops the ranges before the
// one preceding it, so the log keeps the changes of the last
// DrillLogRange to 2×DrillLogRange sequences.
const DrillLogRange = 524288

const insertDrillLogSQL = "INSERT INTO %s (seq, entity, agency, occurred_at, tie, next_at, before_at, removes, prev)"

// insertDrillLog writes the rows of c, with their next_at before the
// commit, and the commit's marker (c.mark, continuing c.prev) into
// cds.drill_log in one INSERT.
func (db *DB) insertDrillLog(ctx context.Context, queryID string, c *DrillColumns) error {
	if cap(c.scratch.prev) < c.Len() {
		c.scratch.prev = make([]uint64, c.Len())
	}
	prev := c.scratch.prev[:c.Len()]
	for i, e := range c.Entity {
		prev[i] = 0
		if e == "" {
			prev[i] = c.prev
		}
	}
	qid := queryID
	if qid != "" {
		qid += "-log"
	}
	t := c.unixTimes(c.OccurredAt, c.NextAt, c.Before)
	if err := db.insertColumns(ctx, qid, fmt.Sprintf(insertDrillLogSQL, db.Table("drill_log")),
		[]any{c.Seq, c.Entity, c.Agency, t[0], c.Tie, t[1], t[2], c.Removes, prev}); err != nil {
		return fmt.Errorf("insert into cds.drill_log: %w", err)
	}
	return nil
}

// PruneDrillLog drops the ranges of cds.drill_log that the commit of c
// (written by InsertDrill) leaves behind, when it enters a new range: every
// range before the one preceding it. The projector calls it after the
// commit and only logs its failure: the log then holds more, and the next
// commit that enters a range drops every range behind it.
func (db *DB) PruneDrillLog(ctx context.Context, c *DrillColumns) error {
	r := c.mark / DrillLogRange
	if r <= c.prev/DrillLogRange || r < 2 {
		return nil
	}
	keep := r - 1
	rows, err := db.Query(ctx, "SELECT DISTINCT partition FROM system.parts WHERE database = ? AND table = 'drill_log' AND active", db.Name)
	if err != nil {
		return fmt.Errorf("list the ranges of cds.drill_log: %w", err)
	}
	var drop []uint64
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return fmt.Errorf("list the ranges of cds.drill_log: %w", err)
		}
		if r, err := strconv.ParseUint(p, 10, 64); err == nil && r < keep {
			drop = append(drop, r)
		}
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return fmt.Errorf("list the ranges of cds.drill_log: %w", err)
	}
	rows.Close()
	for _, r := range drop {
		if err := db.execSettled(ctx, fmt.Sprintf("ALTER TABLE %s DROP PARTITION %d", db.Table("drill_log"), r)); err != nil { // sent to the leader, like TRUNCATE
			return fmt.Errorf("drop range %d of cds.drill_log: %w", r, err)
		}
	}
	return nil
}

// drillChange is a row of cds.drill_log: a row of cds.drill_list as a
// commit wrote it, with its next_at before.
type drillChange struct {
	seq              uint64
	agency           string
	at, next, before uint32
	tie              uint64
}

// drillLog is the changes of w's rows by the commits after w.at up to to,
// in commit order, and the next_at of each changed row before the first of
// them.
type drillLog struct {
	to      uint64
	changes []drillChange
	first   map[drillRef]uint32
}

// drillChanges reads from cds.drill_log the changes of w's rows by the
// commits after w.at up to to (chainLog).
func (db *DB) drillChanges(ctx context.Context, w drillWhere, to uint64) (*drillLog, error) {
	q := "SELECT seq, entity = '', agency, toUnixTimestamp(occurred_at), tie, toUnixTimestamp(next_at), toUnixTimestamp(before_at), prev FROM " + db.Table("drill_log") +
		"\nWHERE seq > ? AND seq <= ? AND (entity = '' OR (" + w.rows + "))\nORDER BY seq"
	args := append([]any{w.at, to}, w.rowsArgs...)
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read cds.drill_log: %w", err)
	}
	defer rows.Close()
	var logged []loggedRow
	for rows.Next() {
		var r loggedRow
		if err := rows.Scan(&r.seq, &r.mark, &r.agency, &r.at, &r.tie, &r.next, &r.before, &r.prev); err != nil {
			return nil, fmt.Errorf("read cds.drill_log: %w", err)
		}
		logged = append(logged, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read cds.drill_log: %w", err)
	}
	return w.chainLog(logged, to)
}

// loggedRow is a row of cds.drill_log as read: a change (drillChange), or
// a commit's marker (mark 1) with the commit it continues.
type loggedRow struct {
	drillChange
	mark uint8
	prev uint64
}

// chainLog is the changes of w's rows by the commits after w.at up to to,
// from rows of cds.drill_log read with w's filter, in commit order (rows
// of later commits are left out), and checks that the rows hold each of
// those commits: their markers chain from to back to w.at (ErrDrillMoved
// otherwise), each once (ErrDrillMoved for a commit written twice).
// Changes off that chain (a late write of a fenced-out projector) are
// left out.
func (w drillWhere) chainLog(rows []loggedRow, to uint64) (*drillLog, error) {
	slices.SortStableFunc(rows, func(a, b loggedRow) int { return cmp.Compare(a.seq, b.seq) })
	prevs := map[uint64]uint64{}
	var all []drillChange
	for _, r := range rows {
		if r.seq <= w.at || r.seq > to {
			continue
		}
		if r.mark == 1 {
			if _, twice := prevs[r.seq]; twice { // two writes of one commit: its changes would count twice
				return nil, fmt.Errorf("%w: cds.drill_log holds commit %d twice", ErrDrillMoved, r.seq)
			}
			prevs[r.seq] = r.prev
			continue
		}
		all = append(all, r.drillChange)
	}
	chain := map[uint64]bool{}
	s := to
	for s > w.at {
		p, ok := prevs[s]
		if !ok || p >= s {
			break
		}
		chain[s] = true
		s = p
	}
	if s != w.at {
		return nil, fmt.Errorf("%w: cds.drill_log does not chain commit %d back to %d", ErrDrillMoved, to, w.at)
	}
	log := &drillLog{to: to, changes: all[:0], first: map[drillRef]uint32{}}
	for _, c := range all {
		if !chain[c.seq] {
			continue
		}
		log.changes = append(log.changes, c)
		r := drillRef{agency: c.agency, at: c.at, tie: c.tie}
		if _, seen := log.first[r]; !seen {
			log.first[r] = c.before
		}
	}
	return log, nil
}

// delta is how much c moved the count of w's rows: +1 when the row counts
// after it and did not before, -1 the other way round. The log was read
// with w's filter on the row, so the row counts exactly when its next_at
// is at or after w.end.
func (w drillWhere) delta(c drillChange) int64 {
	var d int64
	if c.next >= w.end {
		d++
	}
	if c.before >= w.end {
		d--
	}
	return d
}

// before returns the next_at of r at the commit l was read from: its next
// before the first commit after it that changed it. ok is false when no
// change of r is in l (or l is nil: no commit after the one read).
func (l *drillLog) before(r drillRef) (next uint32, ok bool) {
	if l == nil { // no commit after the one read: a row written after it is unaccounted for
		return 0, false
	}
	next, ok = l.first[r]
	return next, ok
}
