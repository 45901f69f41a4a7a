package projtest

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/fold"
)

// Report compares what ClickHouse holds with a load.
type Report struct {
	Events     int      // rows in cds.events
	Expected   int      // distinct valid ids of the load
	Missing    int      // expected ids absent from cds.events
	Doubled    int      // ids stored more than once
	Extra      int      // ids stored that are not valid ids of the load
	Cells      int      // cells compared
	RawDiffs   []string // cells of cds.cells that differ from folding the rows of cds.events (first 10)
	LoadDiffs  []string // cells of cds.cells that differ from folding the load itself (first 10)
	CopyDiffs  []string // differences between cds.rollup and cds.rollup_sums (CopyDiffs)
	DrillDiffs []string // differences between cds.drill_list and the drill-down read from cds.events (DrillDiffs)
	LastsDiffs []string // differences between cds.event_lasts and the latest events read from cds.events (LastsDiffs)
	Watermark  uint64   // sum of the commit markers
	LastSeq    uint64   // the stream's last sequence, as given to Check
}

// OK reports whether ClickHouse holds exactly the load.
func (r *Report) OK() bool {
	return r.Missing == 0 && r.Doubled == 0 && r.Extra == 0 && r.Events == r.Expected &&
		len(r.RawDiffs) == 0 && len(r.LoadDiffs) == 0 && len(r.CopyDiffs) == 0 && len(r.DrillDiffs) == 0 && len(r.LastsDiffs) == 0 && r.Watermark == r.LastSeq
}

func (r *Report) String() string {
	s := fmt.Sprintf("events %d (expected %d), missing %d, doubled %d, extra %d; cells %d, differing from the raw rows %d, from the load %d; watermark %d, stream last seq %d",
		r.Events, r.Expected, r.Missing, r.Doubled, r.Extra, r.Cells, len(r.RawDiffs), len(r.LoadDiffs), r.Watermark, r.LastSeq)
	for _, d := range r.RawDiffs {
		s += "\n  raw:  " + d
	}
	for _, d := range r.LoadDiffs {
		s += "\n  load: " + d
	}
	for _, d := range r.CopyDiffs {
		s += "\n  copy: " + d
	}
	for _, d := range r.DrillDiffs {
		s += "\n  drill: " + d
	}
	for _, d := range r.LastsDiffs {
		s += "\n  lasts: " + d
	}
	return s
}

// Check compares the cds database of db with load, whose messages the
// stream holds up to lastSeq: cds.events must hold every distinct valid id
// once and nothing else, every cell of cds.cells must equal the fold of the
// rows of cds.events and the fold of the load (within 1e-9), the copies of
// cds.rollup must agree with it (CopyDiffs), the drill-down's table must
// list what cds.events does (DrillDiffs), silence's latest events read
// from cds.event_lasts must be those of cds.events (LastsDiffs), and the
// watermark must be lastSeq.
func Check(ctx context.Context, db *chdb.DB, load *Load, lastSeq uint64) (*Report, error) {
	r := &Report{LastSeq: lastSeq}
	want := load.IDs()
	r.Expected = len(want)

	counts := make(map[string]int, len(want))
	rows, err := db.Query(ctx, "SELECT id FROM "+db.Table("events"))
	if err != nil {
		return nil, fmt.Errorf("projtest: %w", err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("projtest: %w", err)
		}
		counts[id]++
		r.Events++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("projtest: %w", err)
	}
	for id, n := range counts {
		if n > 1 {
			r.Doubled++
		}
		if _, ok := want[id]; !ok {
			r.Extra++
		}
	}
	for id := range want {
		if counts[id] == 0 {
			r.Missing++
		}
	}
	var doubled uint64
	if err := db.QueryRow(ctx, "SELECT count() FROM (SELECT id, count() AS c FROM "+db.Table("events")+" GROUP BY id HAVING c > 1)").Scan(&doubled); err != nil {
		return nil, fmt.Errorf("projtest: %w", err)
	}
	if int(doubled) != r.Doubled {
		return nil, fmt.Errorf("projtest: ClickHouse counts %d doubled ids, the scan %d", doubled, r.Doubled)
	}

	stored, err := Cells(ctx, db)
	if err != nil {
		return nil, err
	}
	raw, err := FoldRaw(ctx, db)
	if err != nil {
		return nil, err
	}
	fromLoad, err := FoldLoad(load)
	if err != nil {
		return nil, err
	}
	r.Cells = len(stored)
	r.RawDiffs = DiffCells(stored, raw, 10)
	r.LoadDiffs = DiffCells(stored, fromLoad, 10)
	if r.CopyDiffs, err = CopyDiffs(ctx, db, 10); err != nil {
		return nil, err
	}
	if r.Watermark, err = Watermark(ctx, db); err != nil {
		return nil, err
	}
	if r.DrillDiffs, err = DrillDiffs(ctx, db, 10); err != nil {
		return nil, err
	}
	if r.LastsDiffs, err = LastsDiffs(ctx, db, 10); err != nil {
		return nil, err
	}
	return r, nil
}

// Cells returns cds.cells aggregated per cell.
func Cells(ctx context.Context, db *chdb.DB) (map[fold.Cell]events.Amount, error) {
	return queryCells(ctx, db, "cells", false, "SELECT indicator, unit, period, dim, day, sum(num), sum(den), sum(n) FROM "+db.Table("cells")+
		" GROUP BY indicator, unit, period, dim, day")
}

// queryCells runs sql, a query of (indicator, unit, period, dim, day, num,
// den, n), and returns its rows by cell, without the zero ones if dropZero;
// what names them in errors.
func queryCells(ctx context.Context, db *chdb.DB, what string, dropZero bool, sql string, args ...any) (map[fold.Cell]events.Amount, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("projtest: read %s: %w", what, err)
	}
	defer rows.Close()
	out := map[fold.Cell]events.Amount{}
	for rows.Next() {
		var (
			c   fold.Cell
			day time.Time
			a   events.Amount
		)
		if err := rows.Scan(&c.Indicator, &c.Unit, &c.Period, &c.Dim, &day, &a.Num, &a.Den, &a.N); err != nil {
			return nil, fmt.Errorf("projtest: read %s: %w", what, err)
		}
		c.Day = fold.DayNumber(time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC))
		if !dropZero || a != (events.Amount{}) {
			out[c] = a
		}
	}
	return out, rows.Err()
}

// FoldRaw folds every row of cds.events with a fresh fold.State and returns
// the cells: the recomputation the rollup must equal.
func FoldRaw(ctx context.Context, db *chdb.DB) (map[fold.Cell]events.Amount, error) {
	rows, err := db.Query(ctx, "SELECT id, type, agency, occurred_at, supersedes, data FROM "+db.Table("events"))
	if err != nil {
		return nil, fmt.Errorf("projtest: read events: %w", err)
	}
	defer rows.Close()
	txn := fold.New().Begin()
	for rows.Next() {
		var (
			id, typ, agency, sup, data string
			at                         time.Time
		)
		if err := rows.Scan(&id, &typ, &agency, &at, &sup, &data); err != nil {
			return nil, fmt.Errorf("projtest: read events: %w", err)
		}
		e, err := events.Restore(id, typ, agency, at, sup, []byte(data))
		if err != nil {
			return nil, fmt.Errorf("projtest: stored event %s: %w", id, err)
		}
		txn.Apply(e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return cellMap(txn.Rows()), nil
}

// FoldLoad folds the valid events of a load, in load order.
func FoldLoad(load *Load) (map[fold.Cell]events.Amount, error) {
	txn := fold.New().Begin()
	for _, m := range load.Msgs {
		if m.Kind != Valid {
			continue
		}
		e, err := events.Decode(m.Data)
		if err != nil {
			return nil, fmt.Errorf("projtest: load event %s: %w", m.ID, err)
		}
		txn.Apply(e)
	}
	return cellMap(txn.Rows()), nil
}

func cellMap(rows []fold.Row) map[fold.Cell]events.Amount {
	out := make(map[fold.Cell]events.Amount, len(rows))
	for _, r := range rows {
		a := out[r.Cell]
		a.Num, a.Den, a.N = a.Num+r.Num, a.Den+r.Den, a.N+r.N
		out[r.Cell] = a
	}
	return out
}

// DiffCells lists up to limit cells where a and b differ by more than 1e-9
// (relative to the larger value when it exceeds 1). A missing cell counts
// as zero.
func DiffCells(a, b map[fold.Cell]events.Amount, limit int) []string {
	var out []string
	cmp := func(c fold.Cell) {
		x, y := a[c], b[c]
		if x.N != y.N || !near(x.Num, y.Num) || !near(x.Den, y.Den) {
			out = append(out, fmt.Sprintf("%s %s period %d dim %q day %s: %+v vs %+v",
				c.Indicator, c.Unit, c.Period, c.Dim, fold.DayTime(c.Day).Format(time.DateOnly), x, y))
		}
	}
	for c := range a {
		cmp(c)
	}
	for c := range b {
		if _, ok := a[c]; !ok {
			cmp(c)
		}
	}
	sort.Strings(out)
	if limit > 0 && len(out) > limit {
		out = append(out[:limit], fmt.Sprintf("… and %d more", len(out)-limit))
	}
	return out
}

func near(x, y float64) bool {
	return math.Abs(x-y) <= 1e-9*math.Max(1, math.Max(math.Abs(x), math.Abs(y)))
}

// Watermark returns the sum of the commit markers of cds.rollup.
func Watermark(ctx context.Context, db *chdb.DB) (uint64, error) {
	w, err := db.Watermark(ctx)
	if err != nil {
		return 0, fmt.Errorf("projtest: %w", err)
	}
	return w, nil
}

// Snapshot is the content of the projections, for comparing a rebuild with
// the live projection row for row.
type Snapshot struct {
	Events    []string // every row of cds.events as text, in seq order
	Cells     map[fold.Cell]events.Amount
	Watermark uint64
}

// Take reads a Snapshot.
func Take(ctx context.Context, db *chdb.DB) (*Snapshot, error) {
	s := &Snapshot{}
	rows, err := db.Query(ctx, "SELECT id, type, v, agency, toString(occurred_at), supersedes, retraction, data, seq, toString(received_at) FROM "+
		db.Table("events")+" ORDER BY seq, id")
	if err != nil {
		return nil, fmt.Errorf("projtest: snapshot: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id, typ, agency, at, sup, data, received string
			v, retraction                            uint8
			seq                                      uint64
		)
		if err := rows.Scan(&id, &typ, &v, &agency, &at, &sup, &retraction, &data, &seq, &received); err != nil {
			return nil, fmt.Errorf("projtest: snapshot: %w", err)
		}
		s.Events = append(s.Events, strings.Join([]string{fmt.Sprint(seq), id, typ, fmt.Sprint(v), agency, at, sup, fmt.Sprint(retraction), data, received}, "|"))
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if s.Cells, err = Cells(ctx, db); err != nil {
		return nil, err
	}
	if s.Watermark, err = Watermark(ctx, db); err != nil {
		return nil, err
	}
	return s, nil
}

// Diff lists how b differs from a (first few differences), or nothing.
func (a *Snapshot) Diff(b *Snapshot) []string {
	var out []string
	if len(a.Events) != len(b.Events) {
		out = append(out, fmt.Sprintf("cds.events: %d rows vs %d", len(a.Events), len(b.Events)))
	}
	for i := 0; i < min(len(a.Events), len(b.Events)) && len(out) < 5; i++ {
		if a.Events[i] != b.Events[i] {
			out = append(out, fmt.Sprintf("cds.events row %d: %s vs %s", i, a.Events[i], b.Events[i]))
		}
	}
	out = append(out, DiffCells(a.Cells, b.Cells, 5)...)
	if a.Watermark != b.Watermark {
		out = append(out, fmt.Sprintf("watermark %d vs %d", a.Watermark, b.Watermark))
	}
	return out
}
