package history_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/internal/app"
	"github.com/bacgiang/cds/internal/eventtest"
	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/internal/scores"
)

// row is one row of cds.score_history_latest.
type row struct {
	num, den, value, target, expected *float64
	attainment                        float64
	status                            string
}

// compareLevel checks that the history at asOf equals GET /v1/scores for a
// level and milestone: the same units, indicators, figures, statuses,
// composites and ranks.
func compareLevel(sys *app.System, asOf string, milestone int, level string) error {
	var api scores.LevelScores
	if err := getJSON(fmt.Sprintf("http://%s/v1/scores?level=%s&milestone=%d&as_of=%s", sys.API.Addr(), level, milestone, asOf), &api); err != nil {
		return err
	}
	ctx := context.Background()
	db := sys.CH.DB
	rows, err := db.Query(ctx, "SELECT unit, indicator, numerator, denominator, value, target, expected, attainment, status FROM "+db.Table("score_history_latest")+
		" WHERE as_of = toDate(?) AND milestone = ? AND level = ?", asOf, uint16(milestone), level)
	if err != nil {
		return err
	}
	hist := map[string]row{}
	for rows.Next() {
		var unit, ind string
		var r row
		if err := rows.Scan(&unit, &ind, &r.num, &r.den, &r.value, &r.target, &r.expected, &r.attainment, &r.status); err != nil {
			rows.Close()
			return err
		}
		if _, dup := hist[unit+"/"+ind]; dup {
			rows.Close()
			return fmt.Errorf("%s %s at %s: two latest rows", unit, ind, asOf)
		}
		hist[unit+"/"+ind] = r
	}
	rows.Close()
	type unitRow struct {
		composite    float64
		rank, ranked uint32
	}
	urows, err := db.Query(ctx, "SELECT unit, composite, rank, ranked FROM "+db.Table("score_history_units_latest")+
		" WHERE as_of = toDate(?) AND milestone = ? AND level = ?", asOf, uint16(milestone), level)
	if err != nil {
		return err
	}
	units := map[string]unitRow{}
	for urows.Next() {
		var unit string
		var u unitRow
		if err := urows.Scan(&unit, &u.composite, &u.rank, &u.ranked); err != nil {
			urows.Close()
			return err
		}
		units[unit] = u
	}
	urows.Close()
	n := 0
	for _, u := range api.Units {
		hu, ok := units[u.Unit]
		if !ok || hu.composite != u.Composite || int(hu.rank) != u.Rank || int(hu.ranked) != u.Of {
			return fmt.Errorf("%s at %s (%d): history %+v (found %v), API composite %v rank %d of %d", u.Unit, asOf, milestone, hu, ok, u.Composite, u.Rank, u.Of)
		}
		for _, ind := range u.Indicators {
			n++
			h, ok := hist[u.Unit+"/"+ind.Code]
			if !ok {
				return fmt.Errorf("%s %s at %s (%d): no history row", u.Unit, ind.Code, asOf, milestone)
			}
			if !sameFloat(h.num, ind.Numerator) || !sameFloat(h.den, ind.Denominator) || !sameFloat(h.value, ind.Value) ||
				!sameFloat(h.target, ind.Target) || !sameFloat(h.expected, ind.Expected) || h.attainment != ind.Attainment || h.status != ind.Status {
				return fmt.Errorf("%s %s at %s (%d): history %s/%s = %s target %s expected %s %v %s; API %s/%s = %s target %s expected %s %v %s",
					u.Unit, ind.Code, asOf, milestone,
					fmtFloat(h.num), fmtFloat(h.den), fmtFloat(h.value), fmtFloat(h.target), fmtFloat(h.expected), h.attainment, h.status,
					fmtFloat(ind.Numerator), fmtFloat(ind.Denominator), fmtFloat(ind.Value), fmtFloat(ind.Target), fmtFloat(ind.Expected), ind.Attainment, ind.Status)
			}
		}
	}
	if len(hist) != n || len(units) != len(api.Units) {
		return fmt.Errorf("%s at %s (%d): history has %d rows and %d units, API %d and %d", level, asOf, milestone, len(hist), len(units), n, len(api.Units))
	}
	return nil
}

func TestHistory(t *testing.T) {
	sys := mustSystem(t)
	pub := &publisher{sys: sys, conns: map[string]jetstream.JetStream{}}
	pub.publish(t, eventtest.Province()...)
	today := registry.DateOf(time.Now()).String()
	levels := []string{"province", "department", "district", "commune"}

	t.Run("equals the API", func(t *testing.T) {
		for _, asOf := range []string{"2021-06-30", "2024-12-31", "2025-03-31", "2025-06-30", "2025-07-31", today} {
			for _, ms := range sys.Catalog.Milestones() {
				for _, level := range levels {
					eventually(t, 60*time.Second, func() error { return compareLevel(sys, asOf, ms, level) })
				}
			}
		}
	})

	t.Run("the queries of docs/analysts.md", func(t *testing.T) {
		for _, check := range []func(*app.System) error{checkTrend, checkLeague, checkFellBehind} {
			if err := check(sys); err != nil {
				t.Error(err)
			}
		}
		// Every query of the directory runs and finds rows in the fixture.
		files, err := filepath.Glob(filepath.Join(queryDir, "*.sql"))
		if err != nil || len(files) < 6 {
			t.Fatalf("docs/queries: %v, %v", files, err)
		}
		for _, f := range files {
			rows, err := runQuery(sys, filepath.Base(f))
			if err != nil || len(rows) == 0 {
				t.Errorf("%s: %d rows, %v", filepath.Base(f), len(rows), err)
			}
		}
	})

	t.Run("one row per key", func(t *testing.T) {
		for _, table := range []string{"score_history_latest", "score_history_units_latest"} {
			var rows, keys uint64
			key := "milestone, level, unit, indicator, as_of"
			if table == "score_history_units_latest" {
				key = "milestone, level, unit, as_of"
			}
			if err := sys.CH.DB.QueryRow(context.Background(), "SELECT count(), uniqExact("+key+") FROM "+sys.CH.DB.Table(table)).Scan(&rows, &keys); err != nil {
				t.Fatal(err)
			}
			if rows == 0 || rows != keys {
				t.Errorf("%s: %d rows, %d keys", table, rows, keys)
			}
		}
		// The dates: every month-end from the baseline to today, and today.
		var dates []string
		r, err := sys.CH.DB.Query(context.Background(), "SELECT DISTINCT toString(as_of) AS d FROM "+sys.CH.DB.Table("score_history_units_latest")+" ORDER BY d")
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
			var d string
			if err := r.Scan(&d); err != nil {
				t.Fatal(err)
			}
			dates = append(dates, d)
		}
		r.Close()
		if len(dates) < 2 || dates[0] != "2021-06-30" || dates[len(dates)-1] != today || !slices.Contains(dates, "2025-02-28") {
			t.Errorf("dates %v: want the month-ends from 2021-06-30 to %s", dates, today)
		}
	})

	t.Run("late event", func(t *testing.T) {
		// A dossier of bg-vietyen processed on paper in March 2024, reported
		// now: HSCV of 2024 falls from 1/1 at every month-end from March on.
		before := trendValue(t, sys, "bg-vietyen", "HSCV", "2024-03-31")
		pub.publish(t, eventtest.Workfile("late-1", "bg-vietyen", "2024-03-12T10:00:00+07:00", "LATE-1", false))
		eventually(t, changeShows, func() error {
			for _, asOf := range []string{"2024-03-31", "2024-12-31"} {
				if err := compareLevel(sys, asOf, 2025, "district"); err != nil {
					return err
				}
			}
			return nil
		})
		after := trendValue(t, sys, "bg-vietyen", "HSCV", "2024-03-31")
		if sameFloat(before, after) {
			t.Errorf("HSCV of bg-vietyen at 2024-03-31 stayed %s after a late event", fmtFloat(after))
		}
		// The key now has two versions in the table and one in the view.
		var versions uint64
		if err := sys.CH.DB.QueryRow(context.Background(), "SELECT count() FROM "+sys.CH.DB.Table("score_history")+
			" WHERE milestone = 2025 AND level = 'district' AND unit = 'bg-vietyen' AND indicator = 'HSCV' AND as_of = toDate('2024-03-31')").Scan(&versions); err != nil {
			t.Fatal(err)
		}
		if versions < 2 {
			t.Logf("the two versions were merged already (%d row)", versions)
		}
		// A correction of that event turns it online: recomputed too.
		pub.publish(t, `{"id":"late-1b","type":"workfile.processed","v":1,"agency":"bg-vietyen","occurred_at":"2024-03-12T10:00:00+07:00","supersedes":"late-1","data":{"workfile_id":"LATE-1","online":true}}`)
		eventually(t, changeShows, func() error { return compareLevel(sys, "2024-06-30", 2025, "district") })
		if v := trendValue(t, sys, "bg-vietyen", "HSCV", "2024-03-31"); v == nil || *v != 1 {
			t.Errorf("HSCV of bg-vietyen at 2024-03-31 after the correction = %s, want 1", fmtFloat(v))
		}
	})

	t.Run("unit trends", func(t *testing.T) {
		asOf := registry.NewDate(2025, 6, 15)
		trends, err := sys.HistoryReader.UnitTrends(context.Background(), "bg-vietyen", 2025, asOf)
		if err != nil {
			t.Fatal(err)
		}
		var s scores.UnitScore
		if err := getJSON("http://"+sys.API.Addr()+"/v1/scores/bg-vietyen?milestone=2025", &s); err == nil {
			t.Fatalf("bg-vietyen is scored today, but the district level ended on 2025-06-30")
		}
		pts := trends["HSCV"]
		if len(pts) != 49 || pts[0].AsOf.String() != "2021-06-30" || pts[47].AsOf.String() != "2025-05-31" || pts[48].AsOf != asOf {
			t.Fatalf("HSCV trend: %d points, want 48 month-ends 2021-06-30…2025-05-31 and 2025-06-15", len(pts))
		}
		for _, i := range []int{0, 33, 44, 47, 48} {
			p := pts[i]
			if err := getJSON("http://"+sys.API.Addr()+"/v1/scores/bg-vietyen?milestone=2025&as_of="+p.AsOf.String(), &s); err != nil {
				t.Fatal(err)
			}
			for _, ind := range s.Indicators {
				if ind.Code != "HSCV" {
					continue
				}
				if !sameFloat(p.Value, ind.Value) || !sameFloat(p.Target, ind.Target) || !sameFloat(p.Expected, ind.Expected) || p.Status != ind.Status {
					t.Errorf("HSCV at %s: trend %s/%s/%s %s, API %s/%s/%s %s", p.AsOf, fmtFloat(p.Value), fmtFloat(p.Target), fmtFloat(p.Expected), p.Status,
						fmtFloat(ind.Value), fmtFloat(ind.Target), fmtFloat(ind.Expected), ind.Status)
				}
			}
		}
		if len(trends) != len(s.Indicators) {
			t.Errorf("%d indicators in the trends, %d in the score", len(trends), len(s.Indicators))
		}
		if _, err := sys.HistoryReader.UnitTrends(context.Background(), "bg-nowhere", 2025, asOf); !errors.Is(err, scores.ErrUnknownUnit) {
			t.Errorf("unknown unit: %v", err)
		}
	})

	t.Run("columns explain themselves", func(t *testing.T) {
		for _, table := range []string{"score_history", "score_history_units"} {
			rows, err := sys.CH.DB.Query(context.Background(), "SELECT name, comment FROM system.columns WHERE database = ? AND table = ?", sys.CH.DB.Name, table)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for rows.Next() {
				var name, comment string
				if err := rows.Scan(&name, &comment); err != nil {
					t.Fatal(err)
				}
				n++
				if comment == "" {
					t.Errorf("%s.%s has no comment", table, name)
				}
			}
			rows.Close()
			if n < 12 {
				t.Errorf("%s: %d columns", table, n)
			}
		}
	})
}

// trendValue reads one value of the latest history.
func trendValue(tb testing.TB, sys *app.System, unit, ind, asOf string) *float64 {
	tb.Helper()
	var v *float64
	if err := sys.CH.DB.QueryRow(context.Background(), "SELECT value FROM "+sys.CH.DB.Table("score_history_latest")+
		" WHERE milestone = 2025 AND unit = ? AND indicator = ? AND as_of = toDate(?)", unit, ind, asOf).Scan(&v); err != nil {
		tb.Fatalf("history of %s %s at %s: %v", unit, ind, asOf, err)
	}
	return v
}
