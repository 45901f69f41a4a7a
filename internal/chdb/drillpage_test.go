package chdb

import (
	"context"
	"fmt"
	"testing"

	"github.com/bacgiang/cds/events"
)

// TestDrillPageLogWithCounts: once a page read has found the drill-down
// tables past its commit (drillPast), the next page pinned at that commit
// reads cds.drill_log with the counts per day, two queries for its rows
// (the counts and the log, then the window's rows) instead of three, and
// answers the page and total of the read before (oldDrillTableRefsTotal)
// and DrillRows' page at that commit, as the read with the log in a query
// of its own does; a read at the tables' commit (whose later commit is
// made up: cds.events does not have it, so only the read before answers
// it) clears the hint and takes two queries too (no log).
func TestDrillPageLogWithCounts(t *testing.T) {
	db, last := drillEventsFixture(t, 20000)
	ctx := context.Background()
	if err := db.InsertDrill(ctx, "", drillEventsCommit(t, db, last+1)); err != nil {
		t.Fatal(err)
	}
	f, _ := events.FeedingOf("HSCV")
	queries := func() uint64 {
		var n uint64
		if err := db.QueryRow(ctx, "SELECT toUInt64(sum(value)) FROM system.events WHERE event = 'SelectQuery'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, tc := range []struct {
		name  string
		at    uint64
		past  bool   // drillPast before the read
		want  uint64 // queries of the page's rows
		after bool   // drillPast after it
	}{
		{"pinned, log with the counts", last, true, 2, true},
		{"pinned, log alone", last, false, 3, true},
		{"at the tables' commit", last + 1, true, 2, false},
		{"at the tables' commit, no log", last + 1, false, 2, false},
	} {
		at := tc.at
		for _, units := range [][]string{nil, {"bg-u007", "bg-u008"}} {
			for _, offset := range []int{0, 5} {
				filt := DrillFilter{Types: f.Types, Entity: f.Entity, KeyField: f.Key, AgencyScoped: true, Units: units, AsOf: "2025-06-30", Year: 2025, UpTo: &at}
				name := fmt.Sprintf("%s, units %v, offset %d", tc.name, units, offset)
				want, wantN, err := db.oldDrillTableRefsTotal(ctx, filt, false, offset, 100)
				if err != nil {
					t.Fatal(err)
				}
				drillPast.Store(tc.past)
				q0 := queries()
				page, total, err := db.drillTableRefsTotal(ctx, filt, false, offset, 100)
				// The read of system.events is a query of its own.
				if n := queries() - q0 - 1; n != tc.want || err != nil {
					t.Errorf("%s: %d queries (%v), want %d", name, n, err, tc.want)
				}
				if drillPast.Load() != tc.after {
					t.Errorf("%s: drillPast %t after the read, want %t", name, drillPast.Load(), tc.after)
				}
				if fmt.Sprint(page) != fmt.Sprint(want) || total != wantN || len(page) == 0 {
					t.Errorf("%s: %d rows, total %d, want the read before's %d rows, total %d", name, len(page), total, len(want), wantN)
				}
				if at != last {
					continue
				}
				rows, err := db.DrillRows(ctx, filt, false, offset, 100)
				if err != nil {
					t.Fatal(err)
				}
				if got, err := db.drillEvents(ctx, filt, page); err != nil || fmt.Sprint(got) != fmt.Sprint(rows) {
					t.Errorf("%s: %d rows (%v), want DrillRows' %d", name, len(got), err, len(rows))
				}
			}
		}
	}
}
