package chdb

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/go-faster/city"

	"github.com/bacgiang/cds/events"
)

// Reads pinned at a commit (docs/design.md, "The drill-down table"). A
// drill-down is read at C, the commit its score was read at (DrillFilter.UpTo).
// Each read of cds.drill_days and of cds.drill_list takes that table's
// marker in the same query (one table, one set of parts: a commit's rows
// and its marker land in one part), so it sees the table at one commit M.
// M = C: the rows are those of C. M > C (commits landed meanwhile, or one
// is being written): the changes of the commits C+1..M are read from
// cds.drill_log and taken back: a count by the deltas of the rows whose
// next_at moved across as_of, a page by giving each row written after C
// its next_at before the first of those commits. M < C: the tables have
// not been refilled yet (ErrDrillBehind). No retry: later commits do not
// disturb a read, only a log that no longer reaches back to C
// (ErrDrillMoved) sends it to cds.events.

// ErrDrillMoved is returned by DrillTableRows, DrillTableCount and
// DrillTablePage when a marker of the drill-down tables is past the commit
// the filter is read at (UpTo) and cds.drill_log no longer holds every
// commit in between (its older ranges dropped, or the tables refilled
// since). The caller runs DrillRows.
var ErrDrillMoved = errors.New("the drill-down tables are past the commit read, and their log does not reach back to it")

// ErrDrillBehind is returned by DrillTableRows, DrillTableCount and
// DrillTablePage when a marker of the drill-down tables is before the
// commit the filter is read at: the projector has not refilled them since
// an upgrade or a failed batch. The caller runs DrillRows.
var ErrDrillBehind = errors.New("the drill-down tables are behind the commit read")

// ErrDrillFilter is returned by DrillTableRows and DrillTableCount for a
// filter the drill-down tables do not answer: without Entity or UpTo, with
// ID or Key, or a province-wide key (not AgencyScoped) read for some units
// only, whose latest event DrillRows looks for among those units' events
// alone while the tables follow the key's timeline over every agency (the
// two differ only for events of province types sent by units that do not
// report for the province, which the gate refuses). The caller runs
// DrillRows.
var ErrDrillFilter = errors.New("the drill-down tables answer drill-downs of one entity at a commit (Entity and UpTo), without ID or Key, and of province-wide keys for every unit only")

// drillWhere is the filter of f on cds.drill_list and cds.drill_log (rows:
// the entity's rows up to as_of's day, of the units, the year, not
// removing; the condition on next_at is the reader's, after FINAL) and on
// cds.drill_days (days), with their arguments.
type drillWhere struct {
	rows, days         string
	rowsArgs, daysArgs []any
	end                uint32 // the unix second after as_of's day: a row counts when next_at >= end
	at                 uint64 // the commit read at (UpTo)
}

// drillTableWhere is the filter of f on the drill-down tables.
func drillTableWhere(f DrillFilter) (drillWhere, error) {
	if f.Entity == "" || f.UpTo == nil || f.ID != "" || f.Key != "" || (!f.AgencyScoped && f.Units != nil) {
		return drillWhere{}, ErrDrillFilter
	}
	day, err := time.ParseInLocation("2006-01-02", f.AsOf, events.Zone)
	if err != nil {
		return drillWhere{}, fmt.Errorf("drill-down as_of %q: %w", f.AsOf, err)
	}
	// Up to as_of's day in province time, and the next event after it: in
	// days, day <= as_of < next_day.
	end := uint32(day.AddDate(0, 0, 1).Unix())
	asOf := drillDay(end) - 1
	var l, d strings.Builder
	l.WriteString("entity = ? AND occurred_at < toDateTime(?)")
	d.WriteString("entity = ? AND day <= ? AND next_day > ?")
	w := drillWhere{rowsArgs: []any{f.Entity, end}, daysArgs: []any{f.Entity, asOf, asOf}, end: end, at: *f.UpTo}
	if f.Units != nil {
		l.WriteString(" AND agency IN ?")
		d.WriteString(" AND agency IN ? AND agency != ''") // no units: none
		w.rowsArgs, w.daysArgs = append(w.rowsArgs, Set(f.Units)), append(w.daysArgs, Set(f.Units))
	} else {
		d.WriteString(" AND agency = ''")
	}
	switch {
	case f.Year != 0:
		from, to := uint32(time.Date(f.Year, 1, 1, 0, 0, 0, 0, events.Zone).Unix()), uint32(time.Date(f.Year+1, 1, 1, 0, 0, 0, 0, events.Zone).Unix())
		l.WriteString(" AND occurred_at >= toDateTime(?) AND occurred_at < toDateTime(?)")
		d.WriteString(" AND day >= ? AND day < ?")
		w.rowsArgs, w.daysArgs = append(w.rowsArgs, from, to), append(w.daysArgs, drillDay(from), drillDay(to))
	case len(f.Removes) > 0:
		l.WriteString(" AND removes = 0")
		d.WriteString(" AND removes = 0")
	}
	w.rows, w.days = l.String(), d.String()
	return w, nil
}

// noPrewhere keeps the conditions of a FINAL read in WHERE: moved to
// PREWHERE they would be read before the versions are resolved.
func noPrewhere(ctx context.Context) context.Context {
	return clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"optimize_move_to_prewhere": 0}))
}

// checkMark returns ErrDrillBehind when a table read is at commit m,
// before w's.
func (w drillWhere) checkMark(table string, m uint64) error {
	if m < w.at {
		return fmt.Errorf("%w: %s at %d, read at %d", ErrDrillBehind, table, m, w.at)
	}
	return nil
}

// changesSince checks a table read at commit m (checkMark) and returns
// the changes of the commits after w.at up to m, or nil when m is w.at:
// have when it already holds exactly those, else from logged (rows of
// cds.drill_log read with the table, chainLog) when they chain back from
// m to w.at, else read (drillChanges), which answers ErrDrillMoved when
// the log does not reach back.
func (db *DB) changesSince(ctx context.Context, w drillWhere, table string, m uint64, have *drillLog, logged []loggedRow) (*drillLog, error) {
	if err := w.checkMark(table, m); err != nil {
		return nil, err
	}
	if m == w.at {
		return nil, nil
	}
	if have != nil && have.to == m {
		return have, nil
	}
	if logged != nil {
		if log, err := w.chainLog(logged, m); err == nil {
			return log, nil
		}
	}
	return db.drillChanges(ctx, w, m)
}

// DrillTableCount is DrillCount read from cds.drill_days at f.UpTo: a sum
// of its counts, no FINAL, less the changes of later commits
// (cds.drill_log). ErrDrillBehind or ErrDrillMoved when the tables cannot
// answer at f.UpTo.
func (db *DB) DrillTableCount(ctx context.Context, f DrillFilter) (uint64, error) {
	w, err := drillTableWhere(f)
	if err != nil {
		return 0, err
	}
	var mark, n int64
	q := "SELECT toInt64(sumIf(n, entity = '')), toInt64(sumIf(n, entity != '')) FROM " + db.Table("drill_days") + " WHERE entity = '' OR (" + w.days + ")"
	if err := db.QueryRow(ctx, q, w.daysArgs...).Scan(&mark, &n); err != nil {
		return 0, fmt.Errorf("count cds.drill_days: %w", err)
	}
	log, err := db.changesSince(ctx, w, "cds.drill_days", uint64(max(mark, 0)), nil, nil)
	if err != nil {
		return 0, err
	}
	if log != nil {
		for _, c := range log.changes {
			n -= w.delta(c)
		}
	}
	if n < 0 {
		return 0, fmt.Errorf("%w: cds.drill_days less cds.drill_log's changes counts %d rows at %d", ErrDrillMoved, n, w.at)
	}
	return uint64(n), nil
}

// DrillTableRows is DrillRows read from the drill-down tables at f.UpTo:
// the rows of f by occurred_at then cityHash64(id) (all, or limit from
// offset), then their ids, types, keys and data from cds.events by their
// place in its order. A page reads the counts per day of cds.drill_days,
// then only the days holding rows offset to offset+limit of
// cds.drill_list. ErrDrillBehind or ErrDrillMoved when the tables cannot
// answer at f.UpTo.
func (db *DB) DrillTableRows(ctx context.Context, f DrillFilter, all bool, offset, limit int) ([]DrillRow, error) {
	page, err := db.drillTableRefs(ctx, f, all, offset, limit)
	if err != nil {
		return nil, err
	}
	return db.drillEvents(ctx, f, page)
}

// DrillTablePage is DrillTableRows of one page (limit rows from offset,
// limit > 0) and DrillTableCount in one read: the total is the sum of the
// counts per day that the page's window is found from (drillWindow), so
// it costs no read of its own.
func (db *DB) DrillTablePage(ctx context.Context, f DrillFilter, offset, limit int) ([]DrillRow, uint64, error) {
	if limit <= 0 {
		return nil, 0, fmt.Errorf("drill-down page: limit %d, want > 0", limit)
	}
	page, total, err := db.drillTableRefsTotal(ctx, f, false, offset, limit)
	if err != nil {
		return nil, 0, err
	}
	rows, err := db.drillEvents(ctx, f, page)
	return rows, uint64(total), err
}

// drillTableRefs reads the rows of DrillTableRows from the drill-down
// tables.
func (db *DB) drillTableRefs(ctx context.Context, f DrillFilter, all bool, offset, limit int) ([]drillRef, error) {
	page, _, err := db.drillTableRefsTotal(ctx, f, all, offset, limit)
	return page, err
}

// drillTableRefsTotal is drillTableRefs, and for a page (not all, limit >
// 0) the total of f's rows at f.UpTo as DrillTableCount counts them; -1
// otherwise.
func (db *DB) drillTableRefsTotal(ctx context.Context, f DrillFilter, all bool, offset, limit int) ([]drillRef, int64, error) {
	w, err := drillTableWhere(f)
	if err != nil {
		return nil, -1, err
	}
	if !all {
		if limit <= 0 {
			return nil, -1, nil
		}
		return db.drillPage(ctx, w, offset, limit)
	}
	rows, mark, err := db.drillListRows(ctx, w, nil)
	if err != nil {
		return nil, -1, err
	}
	log, err := db.changesSince(ctx, w, "cds.drill_list", mark, nil, nil)
	if err != nil {
		return nil, -1, err
	}
	page, err := w.listed(rows, log)
	return page, -1, err
}

// drillWindowSQL reads the counts per day of cds.drill_days (%[1]s, kind
// 0; day in occurred_at, the count in n) with its marker; %[2]s is the
// filter on cds.drill_days. drillLogSQL, appended to it, reads in the same
// query the rows of cds.drill_log (%[1]s, kind 1) of the commits after the
// one read, with %[2]s the filter on the log's rows: those that a read
// finding the tables past its commit needs, read with the counts rather
// than in a query of their own after them. The columns of the two are
// alike: kind, is the row a marker, agency, occurred_at, tie, next_at,
// before_at, seq, n, prev.
const (
	drillWindowSQL = `SELECT toUInt8(0) AS c_kind, toUInt8(entity = '') AS c_mark, '' AS c_agency, toUInt32(day) AS c_at, toUInt64(0) AS c_tie,
  toUInt32(0) AS c_next, toUInt32(0) AS c_before, toUInt64(0) AS c_seq, toInt64(sum(n)) AS c_n, toUInt64(0) AS c_prev
FROM %[1]s WHERE entity = '' OR (%[2]s) GROUP BY c_mark, day`
	drillLogSQL = `
UNION ALL
SELECT toUInt8(1), toUInt8(entity = ''), agency, toUInt32(toUnixTimestamp(occurred_at)), tie, toUInt32(toUnixTimestamp(next_at)), toUInt32(toUnixTimestamp(before_at)), seq, toInt64(0), prev
FROM %[1]s WHERE seq > ? AND (entity = '' OR (%[2]s))`
)

// drillPast says whether the last drill-down page read found the tables
// past the commit it was read at (commits landing meanwhile: a busy
// projector), so that the next page read takes the log with the counts
// (drillLogSQL): a quiet projector's pages, read at the tables' commit,
// do without it (it costs a read of the log's latest part for nothing).
// A hint for the number of queries only: whatever it says, a read at a
// commit the log read with the counts does not reach reads the log again.
var drillPast atomic.Bool

// drillPage reads a page of w (limit rows from offset) from the
// drill-down tables at w.at, and the total of w's rows then: the counts
// per day of cds.drill_days (drillWindowSQL, with the changes of the
// commits after w.at when drillPast says some are likely), which give
// the window of days holding the page at w.at (window); then the window's
// rows of cds.drill_list (drillListRows). cds.drill_log is read in a
// query of its own only when a table's marker is at a commit the log
// read with the counts does not reach (not read, or landed after).
func (db *DB) drillPage(ctx context.Context, w drillWhere, offset, limit int) ([]drillRef, int64, error) {
	withLog := drillPast.Load()
	q := fmt.Sprintf(drillWindowSQL, db.Table("drill_days"), w.days)
	args := append([]any(nil), w.daysArgs...)
	if withLog {
		q += fmt.Sprintf(drillLogSQL, db.Table("drill_log"), w.rows)
		args = append(append(args, w.at), w.rowsArgs...)
	}
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, -1, fmt.Errorf("read cds.drill_days: %w", err)
	}
	defer rows.Close()
	counts := map[uint32]int64{}
	var days []uint32
	var mark int64
	var logged []loggedRow
	for rows.Next() {
		var kind uint8
		var r loggedRow
		var n int64
		if err := rows.Scan(&kind, &r.mark, &r.agency, &r.at, &r.tie, &r.next, &r.before, &r.seq, &n, &r.prev); err != nil {
			return nil, -1, fmt.Errorf("read cds.drill_days: %w", err)
		}
		switch {
		case kind == 1:
			logged = append(logged, r)
		case r.mark == 1:
			mark += n
		default:
			days = append(days, r.at)
			counts[r.at] = n
		}
	}
	if err := rows.Err(); err != nil {
		return nil, -1, fmt.Errorf("read cds.drill_days: %w", err)
	}
	rows.Close()
	slices.Sort(days)
	daysMark := uint64(max(mark, 0))
	drillPast.Store(daysMark > w.at)
	daysLog, err := db.changesSince(ctx, w, "cds.drill_days", daysMark, nil, logged)
	if err != nil {
		return nil, -1, err
	}
	win, err := w.window(days, counts, daysLog, offset, limit)
	if err != nil || !win.ok {
		return nil, win.total, err
	}
	listed, listMark, err := db.drillListRows(ctx, w, &win)
	if err != nil {
		return nil, -1, err
	}
	if listMark > w.at {
		drillPast.Store(true)
	}
	listLog, err := db.changesSince(ctx, w, "cds.drill_list", listMark, daysLog, logged)
	if err != nil {
		return nil, -1, err
	}
	page, err := w.listed(listed, listLog)
	if err != nil {
		return nil, -1, err
	}
	return page[min(win.skip, len(page)):min(win.skip+limit, len(page))], win.total, nil
}

// listRow is a row of cds.drill_list as read: its place, its next_at and
// the commit that wrote it.
type listRow struct {
	drillRef
	next uint32
	seq  uint64
}

// drillListRows reads the rows of w from cds.drill_list (those of win's
// days only, when not nil) that count at the commit read or were written
// after it, and the table's marker in the same read.
func (db *DB) drillListRows(ctx context.Context, w drillWhere, win *drillDays) ([]listRow, uint64, error) {
	where, args := w.rows, w.rowsArgs
	if win != nil {
		where += " AND occurred_at >= toDateTime(?) AND occurred_at < toDateTime(?)"
		args = append(args[:len(args):len(args)], win.from, win.to)
	}
	// The rows counting now, and those written after the commit read,
	// which may have counted then; the table's marker in the same read.
	q := "SELECT entity = '', agency, toUnixTimestamp(occurred_at), tie, toUnixTimestamp(next_at), seq FROM " + db.Table("drill_list") + " FINAL\nWHERE entity = '' OR (" + where +
		" AND (next_at >= toDateTime(?) OR seq > ?))"
	args = append(args[:len(args):len(args)], w.end, w.at)
	rows, err := db.Query(noPrewhere(ctx), q, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("read cds.drill_list: %w", err)
	}
	defer rows.Close()
	var mark uint64
	var out []listRow
	for rows.Next() {
		var r listRow
		var isMark uint8
		if err := rows.Scan(&isMark, &r.agency, &r.at, &r.tie, &r.next, &r.seq); err != nil {
			return nil, 0, fmt.Errorf("read cds.drill_list: %w", err)
		}
		if isMark == 1 {
			mark = r.seq
			continue
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("read cds.drill_list: %w", err)
	}
	return out, mark, nil
}

// listed is the rows of w at the commit read, in the table's order
// (occurred_at, tie, agency), from rows of cds.drill_list read at a later
// commit (or the same: log nil) and the changes of the commits since
// (log): a row written after the commit read counts when its next_at
// before them did. The chain of those commits is checked (changesSince)
// even when no row moved, since a refill among them (which breaks the
// chain) may have dropped rows counting at w.at.
func (w drillWhere) listed(rows []listRow, log *drillLog) ([]drillRef, error) {
	slices.SortFunc(rows, func(a, b listRow) int { return cmpRef(a.drillRef, b.drillRef) })
	page := make([]drillRef, 0, len(rows))
	for _, r := range rows {
		next := r.next
		if r.seq > w.at { // its next_at at the commit read: from the log
			before, ok := log.before(r.drillRef)
			if !ok {
				return nil, fmt.Errorf("%w: the row of %s at %d with id hash %d was written after commit %d and is not in cds.drill_log", ErrDrillMoved, r.agency, r.at, r.tie, w.at)
			}
			next = before
		}
		if next >= w.end {
			page = append(page, r.drillRef)
		}
	}
	return page, nil
}

// drillDays is the window of a page found from the counts per day: the
// unix seconds from and to bounding the occurred_at of the days holding
// rows offset to offset+limit-1, how many of the window's rows come
// before offset, and total, the rows of w at the commit read (the sum of
// the counts, as DrillTableCount reads it). ok is false when the listing
// has offset rows or fewer.
type drillDays struct {
	from, to uint32
	skip     int
	total    int64
	ok       bool
}

// window finds the window of a page (drillDays) from the counts per day
// of cds.drill_days (days ascending, counts by day) read at a later
// commit than w's, or the same (log nil), and the changes of the commits
// since (log).
func (w drillWhere) window(days []uint32, counts map[uint32]int64, log *drillLog, offset, limit int) (drillDays, error) {
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
	var win drillDays
	for day, c := range counts {
		// A day counting fewer than no rows once the log's changes are
		// taken back: the log does not reach back to w.at, even when the
		// sum over the days does not show it (no day below 0: nor the
		// total).
		if c < 0 {
			return drillDays{total: -1}, fmt.Errorf("%w: cds.drill_days less cds.drill_log's changes counts %d rows on day %d at %d", ErrDrillMoved, c, day, w.at)
		}
		win.total += c
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
		if !win.ok {
			first, win.skip, win.ok = day, offset-int(before), true
		}
		last = day
		if before += c; before >= int64(offset+limit) {
			break
		}
	}
	win.from, win.to = drillDayStart(first), drillDayStart(last+1)
	return win, nil
}

// DrillMoves is what the commits after a drill-down page was read did to
// it (DrillSince): Total, how much they moved the total of its filter;
// Page, whether they moved a row at or before its last row in the tables'
// order (one of the rows before the page, or of the page).
type DrillMoves struct {
	Total int64
	Page  bool
}

// DrillSince reads from cds.drill_log the changes of f's rows by the
// commits after from up to *f.UpTo, for a page read at from whose last
// row is last (nil for an empty page), so that the page can be answered at
// *f.UpTo without being read again: when no change moved a row counted
// at or before last (Page false), the list up to the page's last row is
// the same at both commits, and the total moved by Total (the caller
// knows from it whether rows joined a page that was not full). A row of
// the tables sorts by occurred_at, then cityHash64(id), then agency, as
// DrillRows lists them. ErrDrillFilter for a filter the tables do not
// answer, ErrDrillMoved when the log does not hold every commit from from
// to *f.UpTo (its older ranges dropped, a refill, or the commit not yet
// logged); the caller then reads the page. One query on cds.drill_log's
// latest granules (its key starts with seq), a few rows per commit:
// DrillLogSince, then DrillLog.Moves.
func (db *DB) DrillSince(ctx context.Context, f DrillFilter, from uint64, last *DrillRow) (DrillMoves, error) {
	l, err := db.DrillLogSince(ctx, f, from)
	if err != nil {
		return DrillMoves{}, err
	}
	return l.Moves(last), nil
}

// DrillLog is the changes of a drill-down's rows by the commits after one
// up to another, as DrillLogSince read them: what DrillSince answers for
// any page of the drill-down read at the first commit (Moves), so that
// the pages of one drill-down carried over the same commits share one
// read of the log. Read only.
type DrillLog struct {
	w   drillWhere
	log *drillLog // nil: no commit in between
}

// DrillLogSince reads from cds.drill_log the changes of f's rows (its
// filter but the page) by the commits after from up to *f.UpTo, with the
// errors of DrillSince.
func (db *DB) DrillLogSince(ctx context.Context, f DrillFilter, from uint64) (*DrillLog, error) {
	if f.UpTo == nil {
		return nil, ErrDrillFilter
	}
	to := *f.UpTo
	f.UpTo = &from
	w, err := drillTableWhere(f)
	if err != nil {
		return nil, err
	}
	if to < from {
		return nil, fmt.Errorf("%w: asked from commit %d back to %d", ErrDrillMoved, from, to)
	}
	if to == from {
		return &DrillLog{w: w}, nil
	}
	log, err := db.drillChanges(ctx, w, to)
	if err != nil {
		return nil, err
	}
	return &DrillLog{w: w, log: log}, nil
}

// Moves is what the changes of l did to a page of its drill-down whose
// last row is last (nil for an empty page): see DrillSince.
func (l *DrillLog) Moves(last *DrillRow) DrillMoves {
	var m DrillMoves
	if l.log == nil {
		return m
	}
	var end drillRef
	if last != nil {
		end = drillRef{agency: last.Agency, at: uint32(last.OccurredAt.Unix()), tie: city.CH64([]byte(last.ID))}
	}
	for _, c := range l.log.changes {
		d := l.w.delta(c)
		if d == 0 {
			continue
		}
		m.Total += d
		if last != nil && cmpRef(drillRef{agency: c.agency, at: c.at, tie: c.tie}, end) <= 0 {
			m.Page = true
		}
	}
	return m
}

// cmpRef orders rows of the drill-down tables as a page lists them: by
// occurred_at, then the hash of the id, then agency.
func cmpRef(a, b drillRef) int {
	return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.tie, b.tie), cmp.Compare(a.agency, b.agency))
}
