package projtest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"time"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/chdb"
)

// DrillDiffs compares the drill-down's table, cds.drill_list, at the watermark
// with the drill-down read from cds.events (chdb.DB.DrillRows), for every
// indicator fed by events, at the first and last days of cds.events, the
// day between and the day after, for every unit and, for agency-scoped
// keys, for the agency with the most events (the totals, and pages of
// drillPage at the start, the middle and the end); it returns at most
// limit differences, or why the table cannot be read at the watermark.
func DrillDiffs(ctx context.Context, db *chdb.DB, limit int) ([]string, error) {
	w, err := Watermark(ctx, db)
	if err != nil {
		return nil, err
	}
	return DrillDiffsAt(ctx, db, w, limit)
}

// DrillDiffsAt is DrillDiffs at commit w, which may be earlier than the
// drill-down tables' (a read pinned at w: chdb.DB.DrillTableRows).
func DrillDiffsAt(ctx context.Context, db *chdb.DB, w uint64, limit int) ([]string, error) {
	var lo, hi time.Time
	var agency string
	q := "SELECT min(occurred_at), max(occurred_at), topK(1)(agency)[1] FROM " + db.Table("events") + " WHERE retraction = 0"
	if err := db.QueryRow(ctx, q).Scan(&lo, &hi, &agency); err != nil {
		return nil, fmt.Errorf("projtest: read cds.events: %w", err)
	}
	days := []time.Time{lo, lo.Add(hi.Sub(lo) / 2), hi, hi.AddDate(0, 0, 1)}
	var out []string
	for _, ind := range fedIndicators() {
		f, _ := events.FeedingOf(ind)
		unitSets := [][]string{nil}
		if f.Scope == events.ScopeAgency && agency != "" {
			unitSets = append(unitSets, []string{agency})
		}
		for _, day := range days {
			asOf := day.In(events.Zone).Format("2006-01-02")
			for _, units := range unitSets {
				filt := chdb.DrillFilter{Types: f.Types, Entity: f.Entity, KeyField: f.Key, KeyIsNumber: f.KeyIsNumber(),
					AgencyScoped: f.Scope == events.ScopeAgency, Units: units, AsOf: asOf, UpTo: &w}
				switch f.Period {
				case events.PeriodOccurred:
					filt.Year = day.In(events.Zone).Year()
				case events.PeriodNone:
					filt.Removes = f.Removes
				}
				name := fmt.Sprintf("%s as_of %s units %v", ind, asOf, units)
				want, err := db.DrillCount(ctx, filt)
				if err != nil {
					return nil, fmt.Errorf("projtest: %s: %w", name, err)
				}
				got, err := db.DrillTableCount(ctx, filt)
				if errors.Is(err, chdb.ErrDrillMoved) || errors.Is(err, chdb.ErrDrillBehind) {
					return []string{fmt.Sprintf("cds.drill_list cannot be read at commit %d: %v", w, err)}, nil
				}
				if err != nil {
					return nil, fmt.Errorf("projtest: %s: %w", name, err)
				}
				if got != want {
					out = append(out, fmt.Sprintf("%s: cds.drill_list counts %d events, cds.events %d", name, got, want))
				}
				// Pages, not whole lists: a list's data is read by its ids.
				for _, offset := range pageOffsets(int(want)) {
					want, err := db.DrillRows(ctx, filt, false, offset, drillPage)
					if err != nil {
						return nil, fmt.Errorf("projtest: %s: %w", name, err)
					}
					got, err := db.DrillTableRows(ctx, filt, false, offset, drillPage)
					if err != nil {
						return nil, fmt.Errorf("projtest: %s: %w", name, err)
					}
					if !reflect.DeepEqual(got, want) {
						out = append(out, fmt.Sprintf("%s: page at %d: cds.drill_list lists %v, cds.events %v", name, offset, ids(got), ids(want)))
					}
				}
				if len(out) >= limit {
					return out, nil
				}
			}
		}
	}
	return out, nil
}

// drillPage is the size of the pages DrillDiffs compares.
const drillPage = 200

// pageOffsets returns the offsets of the pages DrillDiffs compares in a
// list of n rows: the first, the middle and the last, each once (a list of
// one page has one).
func pageOffsets(n int) []int {
	out := []int{0}
	if n <= drillPage {
		return out
	}
	for _, o := range []int{n / 2, max(n-drillPage, 0)} {
		if o > out[len(out)-1] {
			out = append(out, o)
		}
	}
	return out
}

func ids(rows []chdb.DrillRow) []string {
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.ID)
	}
	return out
}

// fedIndicators returns the indicators event types feed, sorted.
func fedIndicators() []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range events.Types() {
		for _, ind := range t.FeedsOf() {
			if !seen[ind] {
				seen[ind] = true
				out = append(out, ind)
			}
		}
	}
	sort.Strings(out)
	return out
}
