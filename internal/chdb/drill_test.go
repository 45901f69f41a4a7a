package chdb_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/chdb/chdbtest"
)

// drillFixture writes n random events of the types feeding HSCV (a flow,
// agency-scoped keys), DVC_L4 (a stock with a removing type) and DNS (a
// stock of the province, keys not agency-scoped), and KTS_GRDP (numeric
// keys), with keys seen several times over the years, equal timestamps,
// corrections (some by another agency, which do not count) and
// retractions. It returns the last seq.
func drillFixture(tb testing.TB, db *chdb.DB, n int) uint64 {
	tb.Helper()
	rng := rand.New(rand.NewPCG(14, 14))
	agencies := []string{"bg-vietyen", "bg-vietyen-nenh", "bg-hiephoa", "bg"}
	base := time.Date(2022, 1, 1, 0, 0, 0, 0, events.Zone)
	type old struct{ id, agency, typ, data string }
	var olds []old
	var c chdb.EventColumns
	c.Grow(n)
	for i := 1; i <= n; i++ {
		agency := agencies[rng.IntN(len(agencies))]
		// Hours over 2022-2025, many events sharing a timestamp.
		at := base.Add(time.Duration(rng.IntN(4*365*24)) * time.Hour)
		id := fmt.Sprintf("e%05d", i)
		var typ, data, sup string
		var retraction uint8
		switch r := rng.IntN(100); {
		case r < 8 && len(olds) > 0: // a correction, now and then by another agency
			o := olds[rng.IntN(len(olds))]
			typ, sup, data = o.typ, o.id, o.data
			if rng.IntN(4) > 0 {
				agency = o.agency
			}
		case r < 12 && len(olds) > 0: // a retraction
			o := olds[rng.IntN(len(olds))]
			agency, typ, sup, retraction = o.agency, o.typ, o.id, 1
		case r < 50:
			typ, data = "workfile.processed", fmt.Sprintf(`{"workfile_id":"W%d","online":%t}`, rng.IntN(60), rng.IntN(2) == 0)
		case r < 70:
			typ, data = "service.published", fmt.Sprintf(`{"service_code":"S%d","level":%d,"mobile":true}`, rng.IntN(20), 3+rng.IntN(2))
		case r < 78:
			typ, data = "service.withdrawn", fmt.Sprintf(`{"service_code":"S%d"}`, rng.IntN(20))
		case r < 88:
			typ, data = "enterprise.registered", fmt.Sprintf(`{"enterprise_id":"E%d","digital":%t}`, rng.IntN(30), rng.IntN(2) == 0)
		case r < 94:
			typ, data = "enterprise.closed", fmt.Sprintf(`{"enterprise_id":"E%d"}`, rng.IntN(30))
		default:
			typ, data = "economy.grdp_reported", fmt.Sprintf(`{"year":%d,"grdp_total":100,"digital_economy":%d,"sectors":{}}`, 2021+rng.IntN(4), rng.IntN(100))
		}
		if sup == "" {
			olds = append(olds, old{id, agency, typ, data})
		}
		c.ID, c.Type, c.Agency, c.Supersedes, c.Data = append(c.ID, id), append(c.Type, typ), append(c.Agency, agency), append(c.Supersedes, sup), append(c.Data, data)
		c.V, c.Retraction = append(c.V, 1), append(c.Retraction, retraction)
		c.OccurredAt, c.ReceivedAt, c.Seq = append(c.OccurredAt, at), append(c.ReceivedAt, at), append(c.Seq, uint64(i))
	}
	// Two inserts: two parts, as the projector's commits make.
	half := chdb.EventColumns{ID: c.ID[:n/2], Type: c.Type[:n/2], Agency: c.Agency[:n/2], Supersedes: c.Supersedes[:n/2], Data: c.Data[:n/2],
		V: c.V[:n/2], Retraction: c.Retraction[:n/2], OccurredAt: c.OccurredAt[:n/2], ReceivedAt: c.ReceivedAt[:n/2], Seq: c.Seq[:n/2]}
	rest := chdb.EventColumns{ID: c.ID[n/2:], Type: c.Type[n/2:], Agency: c.Agency[n/2:], Supersedes: c.Supersedes[n/2:], Data: c.Data[n/2:],
		V: c.V[n/2:], Retraction: c.Retraction[n/2:], OccurredAt: c.OccurredAt[n/2:], ReceivedAt: c.ReceivedAt[n/2:], Seq: c.Seq[n/2:]}
	for _, part := range []*chdb.EventColumns{&half, &rest} {
		if err := db.InsertEvents(context.Background(), "", part); err != nil {
			tb.Fatal(err)
		}
	}
	return uint64(n)
}

// TestDrillSameAsBaseline: the drill-down's query (year bound, no data in
// the aggregation, data read by key range afterwards) lists the same rows
// and counts the same total as the query before it (BaselineDrillRows), on
// the same data: flows by year (the as_of's and an earlier one), stocks
// with removing types, agency-scoped and province keys, numeric keys,
// corrections and retractions, every unit or a few, a snapshot (UpTo) or
// all, id and key finds, as_of in the past, whole lists and pages.
func TestDrillSameAsBaseline(t *testing.T) {
	db := chdbtest.Migrated(t, "drill_exact")
	ctx := context.Background()
	last := drillFixture(t, db, 3000)
	mid := last / 2
	checked, nonEmpty := 0, 0
	for _, ind := range []string{"HSCV", "DVC_L4", "DNS", "KTS_GRDP"} {
		f, ok := events.FeedingOf(ind)
		if !ok {
			t.Fatalf("no feeding of %s", ind)
		}
		for _, asOf := range []string{"2023-03-01", "2024-12-31", "2025-12-31"} {
			for _, units := range [][]string{nil, {"bg-vietyen", "bg-vietyen-nenh"}, {"bg-hiephoa"}} {
				for _, upTo := range []*uint64{nil, &mid} {
					filt := chdb.DrillFilter{Types: f.Types, KeyField: f.Key, KeyIsNumber: f.KeyIsNumber(), AgencyScoped: f.Scope == events.ScopeAgency,
						Units: units, AsOf: asOf, UpTo: upTo}
					var years []int
					switch f.Period {
					case events.PeriodOccurred:
						y := 0
						fmt.Sscanf(asOf, "%d", &y)
						years = []int{y, y - 1}
					case events.PeriodNone:
						filt.Removes = f.Removes
					}
					for _, year := range append(years, 0)[:max(len(years), 1)] {
						filt.Year = year
						all, err := db.BaselineDrillRows(ctx, filt, 0, 1<<30)
						if err != nil {
							t.Fatal(err)
						}
						finds := []chdb.DrillFilter{filt}
						if len(all) > 0 {
							pick := all[len(all)/2]
							byID, byKey, missing := filt, filt, filt
							byID.ID, byKey.Key, missing.ID = pick.ID, pick.Key, "no-such-id"
							finds = append(finds, byID, byKey, missing)
							nonEmpty++
						}
						for _, ff := range finds {
							name := fmt.Sprintf("%s as_of %s units %v upTo %v year %d id %q key %q", ind, asOf, units, upTo != nil, ff.Year, ff.ID, ff.Key)
							want, err := db.BaselineDrillRows(ctx, ff, 0, 1<<30)
							if err != nil {
								t.Fatal(err)
							}
							got, err := db.DrillRows(ctx, ff, true, 0, 0)
							if err != nil {
								t.Fatalf("%s: %v", name, err)
							}
							if !reflect.DeepEqual(got, want) {
								t.Errorf("%s: all rows differ:\n got %v\nwant %v", name, got, want)
							}
							n, err := db.DrillCount(ctx, ff)
							if err != nil || n != uint64(len(want)) {
								t.Errorf("%s: count %d %v, want %d", name, n, err, len(want))
							}
							for _, pg := range [][2]int{{0, 7}, {5, 3}, {len(want) - 2, 10}} {
								if pg[0] < 0 {
									continue
								}
								want, _ := db.BaselineDrillRows(ctx, ff, pg[0], pg[1])
								got, err := db.DrillRows(ctx, ff, false, pg[0], pg[1])
								if err != nil || !reflect.DeepEqual(got, want) {
									t.Errorf("%s: page %v differs (%v):\n got %v\nwant %v", name, pg, err, got, want)
								}
							}
							checked++
						}
					}
				}
			}
		}
	}
	if nonEmpty < 40 {
		t.Errorf("only %d of the filters list events: the fixture does not test much", nonEmpty)
	}
	t.Logf("%d filters compared, %d with events", checked, nonEmpty)
}
