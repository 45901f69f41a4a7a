package scores

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/bacgiang/cds/internal/chdb"
)

// Drill-downs are read from the projector's tables cds.drill_list and
// cds.drill_days (chdb.DB.DrillTableRows: the rows valid at as_of in the
// table's order, from the days that hold the page, no grouping over the
// unit's events; DrillTableCount: a sum of counts per day) while their
// markers are the commit the score was read at. A commit landing meanwhile, or being written, makes
// FindEvents read again at the next commit after a short pause; after
// drillTries commits, or at once while the projector has not yet refilled
// the table (chdb.ErrDrillBehind), the drill-down is read from cds.events
// (chdb.DB.DrillRows), counted as a fallback (DrillStats). Finds by id or
// key are read from cds.events (not counted).

// drillTries is how many commits FindEvents tries cds.drill_list at.
const drillTries = 3

// drillPause is the pause before FindEvents tries the next commit, times
// the tries so far: a commit's drill rows land before its commit marker.
const drillPause = 10 * time.Millisecond

// pauseDrill waits before the next try, or until ctx is done.
func pauseDrill(ctx context.Context, try int) error {
	t := time.NewTimer(time.Duration(try) * drillPause)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// drillStats counts drill-down reads by source.
type drillStats struct {
	table, fallbacks atomic.Uint64
}

// DrillStats reports the drill-down pages and totals read from the
// drill-down tables, and those read from cds.events because the tables
// were not at the commit read (a commit landing at each try, or tables not
// yet refilled).
func (s *Store) DrillStats() (table, fallbacks uint64) {
	return s.drill.table.Load(), s.drill.fallbacks.Load()
}

// listRows lists the events of f from cds.drill_list, else from cds.events:
// when the table does not answer such filters, is behind f.UpTo, or is
// past it and last (not last: chdb.ErrDrillMoved).
func (e *Engine) listRows(ctx context.Context, f chdb.DrillFilter, all bool, offset, limit int, last bool) ([]chdb.DrillRow, error) {
	rows, err := e.Store.db.DrillTableRows(ctx, f, all, offset, limit)
	if e.fromEvents(err, last) {
		return e.Store.db.DrillRows(ctx, f, all, offset, limit)
	}
	return rows, err
}

// countRows counts the events of f as listRows lists them.
func (e *Engine) countRows(ctx context.Context, f chdb.DrillFilter, last bool) (uint64, error) {
	n, err := e.Store.db.DrillTableCount(ctx, f)
	if e.fromEvents(err, last) {
		return e.Store.db.DrillCount(ctx, f)
	}
	return n, err
}

// fromEvents says whether a read of cds.drill_list that returned err is to be
// made from cds.events instead, and counts the read.
func (e *Engine) fromEvents(err error, last bool) bool {
	switch {
	case err == nil:
		e.Store.drill.table.Add(1)
	case errors.Is(err, chdb.ErrDrillFilter):
		return true
	case errors.Is(err, chdb.ErrDrillBehind):
		e.Store.drill.fallbacks.Add(1)
		return true
	case errors.Is(err, chdb.ErrDrillMoved) && last:
		e.Store.drill.fallbacks.Add(1)
		return true
	}
	return false
}
