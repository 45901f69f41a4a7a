package chdb_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/chdb/chdbtest"
)

// TestDrillTableSameAsDrillRows: cds.drill_list, refilled from cds.events at a
// commit, lists the same rows and counts the same totals as DrillRows at
// that commit, over the filters of TestDrillSameAsBaseline (flows of the
// as_of's and an earlier year, stocks with removing types, agency-scoped,
// province and numeric keys, corrections, retractions, equal timestamps,
// every unit or a few, as_of in the past), whole lists and pages; refuses
// (ErrDrillMoved) to answer at another commit, and (ErrDrillFilter) a
// province-wide key for some units only.
func TestDrillTableSameAsDrillRows(t *testing.T) {
	db := chdbtest.Migrated(t, "drill_table")
	ctx := context.Background()
	last := drillFixture(t, db, 3000)
	for _, at := range []uint64{last / 2, last} {
		if err := db.RefillDrill(ctx, at); err != nil {
			t.Fatal(err)
		}
		checked, nonEmpty := compareDrillTable(t, db, at)
		if nonEmpty < 20 {
			t.Errorf("at %d only %d of %d filters list events: the fixture does not test much", at, nonEmpty, checked)
		}
		other := at - 1
		f, _ := events.FeedingOf("HSCV")
		filt := chdb.DrillFilter{Types: f.Types, Entity: f.Entity, KeyField: f.Key, AgencyScoped: true, AsOf: "2025-12-31", Year: 2025, UpTo: &other}
		if _, err := db.DrillTableRows(ctx, filt, true, 0, 0); !errors.Is(err, chdb.ErrDrillMoved) {
			t.Errorf("read at %d with the table at %d: %v, want ErrDrillMoved", other, at, err)
		}
		if _, err := db.DrillTableCount(ctx, filt); !errors.Is(err, chdb.ErrDrillMoved) {
			t.Errorf("count at %d with the table at %d: %v, want ErrDrillMoved", other, at, err)
		}
	}
}

// compareDrillTable compares DrillTableRows and DrillTableCount with
// DrillRows and DrillCount at upTo over many filters, and says how many it
// compared and how many listed events.
func compareDrillTable(t *testing.T, db *chdb.DB, upTo uint64) (checked, nonEmpty int) {
	t.Helper()
	ctx := context.Background()
	for _, ind := range []string{"HSCV", "DVC_L4", "DNS", "KTS_GRDP"} {
		f, ok := events.FeedingOf(ind)
		if !ok {
			t.Fatalf("no feeding of %s", ind)
		}
		for _, asOf := range []string{"2022-01-01", "2023-03-01", "2024-12-31", "2025-12-31", "2026-11-30"} {
			for _, units := range [][]string{nil, {"bg-vietyen", "bg-vietyen-nenh"}, {"bg-hiephoa"}, {}} {
				filt := chdb.DrillFilter{Types: f.Types, Entity: f.Entity, KeyField: f.Key, KeyIsNumber: f.KeyIsNumber(), AgencyScoped: f.Scope == events.ScopeAgency,
					Units: units, AsOf: asOf, UpTo: &upTo}
				years := []int{0}
				switch f.Period {
				case events.PeriodOccurred:
					y := 0
					fmt.Sscanf(asOf, "%d", &y)
					years = []int{y, y - 1}
				case events.PeriodNone:
					filt.Removes = f.Removes
				}
				for _, year := range years {
					filt.Year = year
					name := fmt.Sprintf("%s as_of %s units %v year %d at %d", ind, asOf, units, year, upTo)
					if !filt.AgencyScoped && units != nil {
						if _, err := db.DrillTableRows(ctx, filt, true, 0, 0); !errors.Is(err, chdb.ErrDrillFilter) {
							t.Errorf("%s: %v, want ErrDrillFilter", name, err)
						}
						continue
					}
					want, err := db.DrillRows(ctx, filt, true, 0, 0)
					if err != nil {
						t.Fatal(err)
					}
					got, err := db.DrillTableRows(ctx, filt, true, 0, 0)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if !reflect.DeepEqual(got, want) {
						t.Errorf("%s: all rows differ:\n got %v\nwant %v", name, got, want)
					}
					n, err := db.DrillTableCount(ctx, filt)
					if err != nil || n != uint64(len(want)) {
						t.Errorf("%s: count %d %v, want %d", name, n, err, len(want))
					}
					for _, pg := range [][2]int{{0, 7}, {5, 3}, {len(want) / 3, 1}, {len(want) / 2, 25}, {len(want) - 2, 10}, {len(want), 5}} {
						if pg[0] < 0 {
							continue
						}
						want, err := db.DrillRows(ctx, filt, false, pg[0], pg[1])
						if err != nil {
							t.Fatal(err)
						}
						got, err := db.DrillTableRows(ctx, filt, false, pg[0], pg[1])
						if err != nil || !reflect.DeepEqual(got, want) {
							t.Errorf("%s: page %v differs (%v):\n got %v\nwant %v", name, pg, err, got, want)
						}
						got, total, err := db.DrillTablePage(ctx, filt, pg[0], pg[1])
						if err != nil || !reflect.DeepEqual(got, want) || total != n {
							t.Errorf("%s: page %v with its total %d (%v), want total %d:\n got %v\nwant %v", name, pg, total, err, n, got, want)
						}
					}
					checked++
					if len(want) > 0 {
						nonEmpty++
					}
				}
			}
		}
	}
	return checked, nonEmpty
}
