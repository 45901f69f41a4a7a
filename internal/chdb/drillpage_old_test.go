package chdb

import (
	"context"
	"fmt"
	"slices"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// The drill-down page's read before issue 14's fewer, cheaper reads
// (commit 662be7f), kept for BenchmarkDrillTablePage: the window from the
// counts per day of cds.drill_days, the changes of later commits, the
// window's rows of cds.drill_list under FINAL, and the page's events of
// cds.events, each a query of its own.

// oldDrillTablePage is DrillTableRows of one page (limit rows from offset,
// limit > 0) and DrillTableCount in one read: the total is the sum of the
// counts per day that the page's window is found from (drillWindow), so
// it costs no read of its own.
func (db *DB) oldDrillTablePage(ctx context.Context, f DrillFilter, offset, limit int) ([]DrillRow, uint64, error) {
	if limit <= 0 {
		return nil, 0, fmt.Errorf("drill-down page: limit %d, want > 0", limit)
	}
	page, total, err := db.oldDrillTableRefsTotal(ctx, f, false, offset, limit)
	if err != nil {
		return nil, 0, err
	}
	rows, err := db.oldDrillEvents(ctx, f, page)
	return rows, uint64(total), err
}

// oldDrillTableRefsTotal is drillTableRefs, and for a page (not all, limit >
// 0) the total of f's rows at f.UpTo as DrillTableCount counts them; -1
// otherwise.
func (db *DB) oldDrillTableRefsTotal(ctx context.Context, f DrillFilter, all bool, offset, limit int) ([]drillRef, int64, error) {
	w, err := drillTableWhere(f)
	if err != nil {
		return nil, -1, err
	}
	var log *drillLog
	where, args := w.rows, w.rowsArgs
	skip := 0
	total := int64(-1)
	if !all {
		if limit <= 0 {
			return nil, -1, nil
		}
		var from, to uint32
		var ok bool
		from, to, skip, total, ok, log, err = db.oldDrillWindow(ctx, w, offset, limit)
		if err != nil || !ok {
			return nil, total, err
		}
		where += " AND occurred_at >= toDateTime(?) AND occurred_at < toDateTime(?)"
		args = append(args[:len(args):len(args)], from, to)
	}
	// The rows counting now, and those written after the commit read,
	// which may have counted then; the table's marker in the same read.
	q := "SELECT entity = '', agency, toUnixTimestamp(occurred_at), tie, toUnixTimestamp(next_at), seq FROM " + db.Table("drill_list") + " FINAL\nWHERE entity = '' OR (" + where +
		" AND (next_at >= toDateTime(?) OR seq > ?))\nORDER BY occurred_at, tie, agency"
	args = append(args[:len(args):len(args)], w.end, w.at)
	rows, err := db.Query(noPrewhere(ctx), q, args...)
	if err != nil {
		return nil, -1, fmt.Errorf("read cds.drill_list: %w", err)
	}
	defer rows.Close()
	var mark uint64
	var page []drillRef
	var moved []int // rows of page written after the commit read
	for rows.Next() {
		var r drillRef
		var isMark uint8
		var next uint32
		var seq uint64
		if err := rows.Scan(&isMark, &r.agency, &r.at, &r.tie, &next, &seq); err != nil {
			return nil, -1, fmt.Errorf("read cds.drill_list: %w", err)
		}
		if isMark == 1 {
			mark = seq
			continue
		}
		switch {
		case seq > w.at: // its next_at at the commit read: from the log below
			moved = append(moved, len(page))
		case next < w.end:
			continue
		}
		page = append(page, r)
	}
	if err := rows.Err(); err != nil {
		return nil, -1, fmt.Errorf("read cds.drill_list: %w", err)
	}
	rows.Close()
	// Commits after the one read: their chain is checked even when no row
	// of the page moved, since a refill among them (which breaks the chain)
	// may have dropped rows of the page at w.at.
	if log, err = db.changesSince(ctx, w, "cds.drill_list", mark, log, nil); err != nil {
		return nil, -1, err
	}
	if len(moved) > 0 {
		keep := make([]bool, len(page))
		for i := range page {
			keep[i] = true
		}
		for _, i := range moved {
			before, ok := log.before(page[i])
			if !ok {
				return nil, -1, fmt.Errorf("%w: the row of %s at %d with id hash %d was written after commit %d and is not in cds.drill_log", ErrDrillMoved, page[i].agency, page[i].at, page[i].tie, w.at)
			}
			keep[i] = before >= w.end
		}
		n := 0
		for i, r := range page {
			if keep[i] {
				page[n] = r
				n++
			}
		}
		page = page[:n]
	}
	if !all {
		page = page[min(skip, len(page)):min(skip+limit, len(page))]
	}
	return page, total, nil
}

// oldDrillWindow finds, from the counts per day of cds.drill_days at the
// commit read (the changes of later commits taken back), the days that
// hold rows offset to offset+limit-1 of w: the unix seconds from and to
// bounding their occurred_at, how many of the window's rows come before
// offset, and total, the rows of w at the commit (the sum of the counts,
// as DrillTableCount reads it). ok is false when the listing has offset
// rows or fewer. log is the changes read, if any.
func (db *DB) oldDrillWindow(ctx context.Context, w drillWhere, offset, limit int) (from, to uint32, skip int, total int64, ok bool, log *drillLog, err error) {
	q := "SELECT entity = '' AS marker, day, toInt64(sum(n)) FROM " + db.Table("drill_days") + " WHERE entity = '' OR (" + w.days + ") GROUP BY marker, day ORDER BY marker, day"
	rows, err := db.Query(ctx, q, w.daysArgs...)
	if err != nil {
		return 0, 0, 0, -1, false, nil, fmt.Errorf("read cds.drill_days: %w", err)
	}
	defer rows.Close()
	var days []uint32
	counts := map[uint32]int64{}
	var mark int64
	for rows.Next() {
		var isMark uint8
		var day uint32
		var c int64
		if err := rows.Scan(&isMark, &day, &c); err != nil {
			return 0, 0, 0, -1, false, nil, fmt.Errorf("read cds.drill_days: %w", err)
		}
		if isMark == 1 {
			mark += c
			continue
		}
		days = append(days, day)
		counts[day] = c
	}
	if err := rows.Err(); err != nil {
		return 0, 0, 0, -1, false, nil, fmt.Errorf("read cds.drill_days: %w", err)
	}
	rows.Close()
	if log, err = db.changesSince(ctx, w, "cds.drill_days", uint64(max(mark, 0)), nil, nil); err != nil {
		return 0, 0, 0, -1, false, nil, err
	}
	if log != nil {
		for _, c := range log.changes {
			day := drillDay(c.at)
			if _, seen := counts[day]; !seen {
				days = append(days, day)
			}
			counts[day] -= w.delta(c)
		}
		slices.Sort(days)
	}
	for day, c := range counts {
		// A day counting fewer than no rows once the log's changes are
		// taken back: the log does not reach back to w.at, even when the
		// sum over the days does not show it (no day below 0: nor the
		// total).
		if c < 0 {
			return 0, 0, 0, -1, false, nil, fmt.Errorf("%w: cds.drill_days less cds.drill_log's changes counts %d rows on day %d at %d", ErrDrillMoved, c, day, w.at)
		}
		total += c
	}
	var before int64
	first, last := uint32(0), uint32(0)
	for _, day := range days {
		c := counts[day]
		if c == 0 {
			continue
		}
		if before+c <= int64(offset) {
			before += c
			continue
		}
		if !ok {
			first, skip, ok = day, offset-int(before), true
		}
		last = day
		if before += c; before >= int64(offset+limit) {
			break
		}
	}
	return drillDayStart(first), drillDayStart(last + 1), skip, total, ok, log, nil
}

// oldDrillEvents reads the events of page from cds.events, in page's order:
// by their agencies, types and span of occurred_at (a prefix of the
// table's key) and the hashes of their ids.
func (db *DB) oldDrillEvents(ctx context.Context, f DrillFilter, page []drillRef) ([]DrillRow, error) {
	if len(page) == 0 {
		return nil, nil
	}
	agencies, ties := map[string]bool{}, clickhouse.GroupSet{Value: make([]any, 0, len(page))}
	lo, hi := page[0].at, page[0].at
	for _, r := range page {
		agencies[r.agency] = true
		ties.Value = append(ties.Value, r.tie)
		lo, hi = min(lo, r.at), max(hi, r.at)
	}
	q := "SELECT id, type, agency, occurred_at, supersedes, " + drillKeyExpr(f.KeyIsNumber, f.AgencyScoped) + " AS key, data, cityHash64(id) AS h FROM " + db.Table("events") +
		"\n  WHERE agency IN ? AND type IN ? AND occurred_at >= toDateTime(?) AND occurred_at <= toDateTime(?) AND h IN ? AND retraction = 0 AND seq <= ?"
	rows, err := db.Query(ctx, q, f.KeyField, Set(keys(agencies)), Set(f.Types), lo, hi, ties, *f.UpTo)
	if err != nil {
		return nil, fmt.Errorf("drill-down events: %w", err)
	}
	defer rows.Close()
	found := make(map[drillRef]DrillRow, len(page))
	for rows.Next() {
		var r DrillRow
		var h uint64
		if err := rows.Scan(&r.ID, &r.Type, &r.Agency, &r.OccurredAt, &r.Supersedes, &r.Key, &r.Data, &h); err != nil {
			return nil, fmt.Errorf("drill-down events: %w", err)
		}
		found[drillRef{r.Agency, uint32(r.OccurredAt.Unix()), h}] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("drill-down events: %w", err)
	}
	out := make([]DrillRow, 0, len(page))
	for _, p := range page {
		r, ok := found[p]
		if !ok {
			return nil, fmt.Errorf("drill-down: the event of %s at %d with id hash %d is in cds.drill_list but not in cds.events", p.agency, p.at, p.tie)
		}
		out = append(out, r)
	}
	return out, nil
}
