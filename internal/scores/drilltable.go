package scores

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/bacgiang/cds/internal/admission"
	"github.com/bacgiang/cds/internal/chdb"
)

// Drill-downs are read from the projector's tables cds.drill_list and
// cds.drill_days (chdb.DB.DrillTablePage: the rows valid at as_of in the
// table's order, from the days that hold the page, no grouping over the
// unit's events, and their total, the sum of the counts per day the page
// was found from; DrillTableRows and DrillTableCount apart), pinned at the
// commit the score was read at: commits landing meanwhile are taken back
// from cds.drill_log, so a busy projector does not make the request start
// again. When the tables cannot answer at that commit (not yet refilled,
// chdb.ErrDrillBehind; the log no longer reaching back to it,
// chdb.ErrDrillMoved) the drill-down is read from cds.events
// (chdb.DB.DrillRows), counted as a fallback (DrillStats). Finds by id or
// key are read from cds.events (not counted).

// drillStats counts drill-down reads by source.
type drillStats struct {
	table, fallbacks atomic.Uint64
}

// DrillStats reports the drill-down pages and totals read from the
// drill-down tables, and those read from cds.events because the tables
// could not answer at the commit read (not yet refilled, or their log no
// longer reaching back to it); a total read after its page fell back is
// not counted again.
func (s *Store) DrillStats() (table, fallbacks uint64) {
	return s.drill.table.Load(), s.drill.fallbacks.Load()
}

// listRows lists the events of f from cds.drill_list, else from
// cds.events: when the tables do not answer such filters or cannot answer
// at f.UpTo. A page read from the tables comes with
// the total of f's events at f.UpTo (chdb.DB.DrillTablePage: the counts
// per day the page is found from), so that the drill-down costs one read,
// not two; total is -1 when the rows were read otherwise. A read of the
// tables is admitted as a drill read (its cost is the page's days and the
// counts per day, as a score's, but within the drill-downs' share of the
// read slots so that the score reads keep slots of their own), one of
// cds.events as a heavy one (it groups the unit's events of the year).
func (e *Engine) listRows(ctx context.Context, f chdb.DrillFilter, all bool, offset, limit int) (rows []chdb.DrillRow, total int64, err error) {
	type paged struct {
		rows  []chdb.DrillRow
		total int64
	}
	p, err := admission.HoldValue(ctx, admission.Drill, func(ctx context.Context) (paged, error) {
		if all || limit <= 0 {
			rows, err := e.Store.db.DrillTableRows(ctx, f, all, offset, limit)
			return paged{rows, -1}, err
		}
		rows, n, err := e.Store.db.DrillTablePage(ctx, f, offset, limit)
		return paged{rows, int64(n)}, err
	})
	if e.fromEvents(err) {
		rows, err := admission.HoldValue(ctx, admission.Heavy, func(ctx context.Context) ([]chdb.DrillRow, error) {
			return e.Store.db.DrillRows(ctx, f, all, offset, limit)
		})
		return rows, -1, err
	}
	return p.rows, p.total, err
}

// fromEvents says whether a read of the drill-down tables that returned
// err is to be made from cds.events instead, and counts the read.
func (e *Engine) fromEvents(err error) bool {
	switch {
	case err == nil:
		e.Store.drill.table.Add(1)
	case errors.Is(err, chdb.ErrDrillFilter):
		return true
	case errors.Is(err, chdb.ErrDrillBehind), errors.Is(err, chdb.ErrDrillMoved):
		e.Store.drill.fallbacks.Add(1)
		return true
	}
	return false
}
