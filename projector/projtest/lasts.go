package projtest

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/chdb"
)

// LastsDiffs compares silence's latest events per agency and type read
// from cds.event_lasts at the watermark (chdb.DB.LastEventsAt) with those
// read by the scan of cds.events (chdb.DB.LastEvents), at the first and
// last days of cds.events, the day between, the day after and 2100-01-01;
// it returns at most limit differences, or why the copy cannot be read at
// the watermark (chdb.ErrLastsBehind among them).
func LastsDiffs(ctx context.Context, db *chdb.DB, limit int) ([]string, error) {
	w, err := Watermark(ctx, db)
	if err != nil {
		return nil, err
	}
	return LastsDiffsAt(ctx, db, w, limit)
}

// LastsDiffsAt is LastsDiffs at commit w, which may be earlier than the
// copy's.
func LastsDiffsAt(ctx context.Context, db *chdb.DB, w uint64, limit int) ([]string, error) {
	var lo, hi time.Time
	if err := db.QueryRow(ctx, "SELECT min(occurred_at), max(occurred_at) FROM "+db.Table("events")).Scan(&lo, &hi); err != nil {
		return nil, fmt.Errorf("projtest: read cds.events: %w", err)
	}
	days := []string{"2100-01-01"}
	for _, d := range []time.Time{lo, lo.Add(hi.Sub(lo) / 2), hi, hi.AddDate(0, 0, 1)} {
		days = append(days, d.In(events.Zone).Format(time.DateOnly))
	}
	var out []string
	for _, day := range days {
		got, _, err := db.LastEventsAt(ctx, day, w)
		if err != nil {
			return nil, fmt.Errorf("projtest: at %s, seq %d: %w", day, w, err)
		}
		want, err := db.LastEvents(ctx, day, w)
		if err != nil {
			return nil, fmt.Errorf("projtest: at %s, seq %d: %w", day, w, err)
		}
		for _, d := range diffLasts(got, want) {
			if len(out) == limit {
				return out, nil
			}
			out = append(out, fmt.Sprintf("at %s, seq %d: %s", day, w, d))
		}
	}
	return out, nil
}

// diffLasts lists the agencies and types whose latest events got and
// want disagree on, sorted.
func diffLasts(got, want map[string]map[string]time.Time) []string {
	var out []string
	seen := map[[2]string]bool{}
	for _, m := range []map[string]map[string]time.Time{got, want} {
		for a, byType := range m {
			for t := range byType {
				k := [2]string{a, t}
				if seen[k] {
					continue
				}
				seen[k] = true
				g, gok := got[a][t]
				w, wok := want[a][t]
				if gok != wok || !g.Equal(w) {
					out = append(out, fmt.Sprintf("%s %s: copy %v (%v), cds.events %v (%v)", a, t, g, gok, w, wok))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}
