package history

import (
	"context"
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/catalog"
	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/chdb/chdbtest"
	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/internal/scores"
)

func date(s string) registry.Date {
	d, err := registry.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

func TestPoints(t *testing.T) {
	tests := []struct {
		name            string
		baseline, today string
		want            []string
	}{
		{"mid-month to mid-month", "2021-06-11", "2021-08-15", []string{"2021-06-30", "2021-07-31", "2021-08-15"}},
		{"today a month-end", "2021-06-11", "2021-07-31", []string{"2021-06-30", "2021-07-31"}},
		{"leap February", "2024-01-31", "2024-03-01", []string{"2024-01-31", "2024-02-29", "2024-03-01"}},
		{"today before the first month-end", "2021-06-11", "2021-06-20", []string{"2021-06-20"}},
		{"today before the baseline", "2021-06-11", "2021-06-01", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, d := range points(date(tt.baseline), date(tt.today)) {
				got = append(got, d.String())
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("points = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFirstChange(t *testing.T) {
	jan, feb, mar := date("2024-01-01"), date("2024-02-01"), date("2024-03-01")
	base := map[registry.Date]fingerprint{jan: {Num: 1, Den: 2, N: 3}, feb: {Num: 4, Den: 5, N: 6}}
	tests := []struct {
		name   string
		now    map[registry.Date]fingerprint
		want   registry.Date
		wantOK bool
	}{
		{"same", map[registry.Date]fingerprint{jan: {Num: 1, Den: 2, N: 3}, feb: {Num: 4, Den: 5, N: 6}}, registry.Date{}, false},
		{"a month changed", map[registry.Date]fingerprint{jan: {Num: 1, Den: 2, N: 3}, feb: {Num: 4, Den: 5, N: 7}}, feb, true},
		{"a month added", map[registry.Date]fingerprint{jan: {Num: 1, Den: 2, N: 3}, feb: {Num: 4, Den: 5, N: 6}, mar: {Num: 1, Den: 1, N: 1}}, mar, true},
		{"a month emptied", map[registry.Date]fingerprint{feb: {Num: 4, Den: 5, N: 6}}, jan, true},
		{"two changed", map[registry.Date]fingerprint{jan: {Num: 0, Den: 2, N: 3}, feb: {Num: 4, Den: 5, N: 7}}, jan, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := firstChange(base, tt.now)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("firstChange = %s %v, want %s %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// mustDB returns a migrated database on a fresh clickhouse-server.
func mustDB(tb testing.TB) *chdb.DB { return chdbtest.Migrated(tb, "") }

// cell is a row of cds.rollup.
type cell struct {
	indicator, unit string
	period          uint16
	dim             string
	day             registry.Date
	num, den        float64
	n               int64
}

// commit inserts cells and a commit marker that advances the watermark by
// one, as the projector's commit does (projector/doc.go).
func commit(tb testing.TB, db *chdb.DB, cells []cell) {
	tb.Helper()
	b, err := db.PrepareBatch(context.Background(), "INSERT INTO "+db.Table("rollup")+" (indicator, unit, period, dim, day, num, den, n)")
	if err != nil {
		tb.Fatal(err)
	}
	for _, c := range cells {
		if err := b.Append(c.indicator, c.unit, c.period, c.dim, dateValue(c.day), c.num, c.den, c.n); err != nil {
			tb.Fatal(err)
		}
	}
	if err := b.Append(chdb.MarkerIndicator, "CDS_EVENTS", uint16(0), "", time.Unix(0, 0).UTC(), 0.0, 0.0, int64(1)); err != nil {
		tb.Fatal(err)
	}
	if err := b.Send(); err != nil {
		tb.Fatalf("insert cells: %v", err)
	}
}

// hscv is one work dossier of unit processed on day, online or not.
func hscv(unit string, day registry.Date, online bool) cell {
	num := 0.0
	if online {
		num = 1
	}
	return cell{indicator: "HSCV", unit: unit, period: uint16(day.Year()), day: day, num: num, den: 1, n: 1}
}

func newRefresher(db *chdb.DB, now *time.Time) *Refresher {
	return New(Config{Now: func() time.Time { return *now }}, db, catalog.Default(), registry.Sample(), nil, nil)
}

// dates returns the distinct as_of of the latest history.
func dates(tb testing.TB, db *chdb.DB) []string {
	tb.Helper()
	rows, err := db.Query(context.Background(), "SELECT DISTINCT toString(as_of) AS d FROM "+db.Table("score_history_latest")+" ORDER BY d")
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			tb.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

func TestRefreshDetects(t *testing.T) {
	db := mustDB(t)
	ctx := context.Background()
	now := time.Date(2022, 1, 15, 12, 0, 0, 0, events.Zone)
	r := newRefresher(db, &now)
	commit(t, db, []cell{hscv("bg-vietyen", date("2021-09-10"), true)})

	st, err := r.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Full || st.Points != 8 || st.From != date("2021-06-30") || st.Rows == 0 || st.UnitRows == 0 {
		t.Fatalf("first refresh: %+v, want all 8 points (7 month-ends and 2022-01-15)", st)
	}
	if st, err = r.Refresh(ctx); err != nil || st.Points != 0 {
		t.Fatalf("refresh without changes: %+v, %v", st, err)
	}
	// A commit without cells (duplicates only) moves the markers, not the cells.
	commit(t, db, nil)
	if st, err = r.Refresh(ctx); err != nil || st.Points != 0 {
		t.Fatalf("refresh after an empty commit: %+v, %v", st, err)
	}
	// A late dossier of October 2021: October's month-end on are stale.
	commit(t, db, []cell{hscv("bg-vietyen", date("2021-10-03"), false)})
	if st, err = r.Refresh(ctx); err != nil || st.Points != 4 || st.From != date("2021-10-31") {
		t.Fatalf("refresh after a late event: %+v, %v; want 4 points from 2021-10-31", st, err)
	}
	// A correction within the same cell: num moves, den and n do not.
	commit(t, db, []cell{{indicator: "HSCV", unit: "bg-vietyen", period: 2021, day: date("2021-10-03"), num: 1}})
	if st, err = r.Refresh(ctx); err != nil || st.From != date("2021-10-31") {
		t.Fatalf("refresh after a correction: %+v, %v", st, err)
	}
	// Two changes that cancel in plain sums (one unit's dossier turns online,
	// another's offline, in the same month) are still seen.
	commit(t, db, []cell{hscv("bg-yenthe", date("2021-11-05"), true)})
	if _, err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	commit(t, db, []cell{
		{indicator: "HSCV", unit: "bg-yenthe", period: 2021, day: date("2021-11-05"), num: -1},
		{indicator: "HSCV", unit: "bg-vietyen", period: 2021, day: date("2021-11-20"), num: 1},
	})
	if st, err = r.Refresh(ctx); err != nil || st.From != date("2021-11-30") {
		t.Fatalf("refresh after cancelling changes: %+v, %v; want from 2021-11-30", st, err)
	}
	// Merges change no fingerprint.
	if err := db.Exec(ctx, "OPTIMIZE TABLE "+db.Table("rollup")+" FINAL"); err != nil {
		t.Fatal(err)
	}
	commit(t, db, nil)
	if st, err = r.Refresh(ctx); err != nil || st.Points != 0 {
		t.Fatalf("refresh after a merge: %+v, %v", st, err)
	}

	// The day changes: the new today is scored, the old one's rows go.
	now = now.Add(24 * time.Hour)
	if st, err = r.Refresh(ctx); err != nil || st.Points != 1 || st.From != date("2022-01-16") {
		t.Fatalf("refresh on the next day: %+v, %v", st, err)
	}
	want := "2021-06-30,2021-07-31,2021-08-31,2021-09-30,2021-10-31,2021-11-30,2021-12-31,2022-01-16"
	waitDates(t, db, want)
	// A month later: the month-end passed is scored as well.
	now = time.Date(2022, 2, 1, 9, 0, 0, 0, events.Zone)
	if st, err = r.Refresh(ctx); err != nil || st.Points != 2 || st.From != date("2022-01-31") {
		t.Fatalf("refresh after a month-end: %+v, %v", st, err)
	}
	waitDates(t, db, strings.Replace(want, "2022-01-16", "2022-01-31,2022-02-01", 1))

	// A new process starts over: everything at a new version, older rows deleted.
	r2 := newRefresher(db, &now)
	if st, err = r2.Refresh(ctx); err != nil || !st.Full {
		t.Fatalf("refresh of a new refresher: %+v, %v", st, err)
	}
	waitRows(t, db, "SELECT count() = uniqExact(milestone, level, unit, indicator, as_of) FROM "+db.Table("score_history"))
	waitRows(t, db, "SELECT count() = uniqExact(milestone, level, unit, as_of) FROM "+db.Table("score_history_units"))
}

// waitDates waits for the mutations that delete an old today.
func waitDates(tb testing.TB, db *chdb.DB, want string) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := strings.Join(dates(tb, db), ",")
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("dates %s, want %s", got, want)
		}
		time.Sleep(50 * time.Millisecond) // poll period; the deadline bounds the wait
	}
}

// waitRows waits until q (a boolean) holds.
func waitRows(tb testing.TB, db *chdb.DB, q string) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var ok uint8
		if err := db.QueryRow(context.Background(), q).Scan(&ok); err != nil {
			tb.Fatal(err)
		}
		if ok == 1 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("not within 20s: %s", q)
		}
		time.Sleep(50 * time.Millisecond) // poll period; the deadline bounds the wait
	}
}

// BenchmarkFullRefresh times the first refresh of a process (every point)
// on a rollup at its bound: every unit of the sample registry with cells of
// the five own indicators on every day from the baseline to 2025-12-31
// (about 0.7M cells, what cds.rollup holds when every unit has events every
// day). Run: go test ./internal/history -run '^$' -bench FullRefresh -benchtime 1x
func BenchmarkFullRefresh(b *testing.B) {
	db := mustDB(b)
	reg := registry.Sample()
	var cells []cell
	end := date("2025-12-31")
	for _, u := range reg.Units() {
		if u.Level == registry.LevelProvince {
			continue
		}
		for d := date("2021-06-11"); !d.After(end); d = d.AddDays(1) {
			if !u.InForce(d) {
				continue
			}
			for _, ind := range []string{"DVC_L4", "DVC_MOBILE", "HSCV", "BAOCAO", "KIEMTRA"} {
				c := cell{indicator: ind, unit: u.Code, day: d, num: float64(d.Day() % 2), den: 1, n: 1}
				if ind == "HSCV" || ind == "BAOCAO" || ind == "KIEMTRA" {
					c.period = uint16(d.Year())
				}
				cells = append(cells, c)
			}
		}
		if len(cells) > 100_000 {
			commit(b, db, cells)
			cells = cells[:0]
		}
	}
	commit(b, db, cells)
	var n uint64
	if err := db.QueryRow(context.Background(), "SELECT count() FROM "+db.Table("rollup")).Scan(&n); err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, events.Zone)
	b.ResetTimer()
	for range b.N {
		r := newRefresher(db, &now)
		cpu := cpuTime()
		st, err := r.Refresh(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric((cpuTime() - cpu).Seconds(), "cpu-s")
		b.ReportMetric(float64(st.Rows+st.UnitRows), "rows")
		b.ReportMetric(float64(st.Points), "points")
		b.Logf("%d cells: %+v", n, st)
	}
}

// cpuTime is the CPU time of this process so far (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestPreloadedScoresAsTheAPI: an Engine of scores.Engine.Preloaded answers
// as the API's Engine does, without a read of its own.
func TestPreloadedScoresAsTheAPI(t *testing.T) {
	db := mustDB(t)
	ctx := context.Background()
	commit(t, db, []cell{
		hscv("bg-vietyen", date("2021-05-10"), true), // before the baseline
		hscv("bg-vietyen", date("2021-09-10"), true),
		hscv("bg-yenthe", date("2022-02-01"), false),
		{indicator: "DVC_L4", unit: "bg-stttt", day: date("2021-08-01"), num: 1, den: 2, n: 2},
		{indicator: "KTS_GRDP", unit: "bg-ctk", period: 2021, dim: "", day: date("2021-12-20"), num: 20, den: 100, n: 1},
		{indicator: "DTI_RANK", unit: "bg-stttt", period: 2021, day: date("2022-03-01"), num: 20, den: 0, n: 1},
	})
	api := &scores.Engine{Catalog: catalog.Default(), Registry: registry.Sample(), Store: scores.NewStore(db)}
	dates := []registry.Date{date("2021-06-30"), date("2021-12-31"), date("2022-02-28"), date("2022-03-15")}
	pre, err := api.Preloaded(ctx, dates)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dates {
		for _, ms := range api.Catalog.Milestones() {
			for _, level := range registry.Levels() {
				q := scores.Query{AsOf: d, Milestone: ms}
				want, err := api.Level(ctx, level, q)
				if err != nil {
					t.Fatal(err)
				}
				got, err := pre.Level(ctx, level, q)
				if err != nil {
					t.Fatal(err)
				}
				w, _ := json.Marshal(want)
				g, _ := json.Marshal(got)
				if string(w) != string(g) {
					t.Errorf("%s %s %d:\npreloaded %s\nengine    %s", level, d, ms, g, w)
				}
			}
		}
	}
	if _, hits, misses := pre.Store.CacheStats(); misses != 0 || hits == 0 {
		t.Errorf("preloaded engine: %d hits, %d misses; want no read of its own", hits, misses)
	}
}
