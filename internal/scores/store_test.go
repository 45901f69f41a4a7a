package scores

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/catalog"
	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/chdb/chdbtest"
	"github.com/bacgiang/cds/internal/registry"
)

// rollupDB is a migrated database on a throwaway ClickHouse server.
func rollupDB(tb testing.TB) *chdb.DB { return chdbtest.Migrated(tb, "cds_scores_test") }

// pos is a projector position: stream sequence and raw-row fingerprint.
type pos struct {
	n        int64
	num, den float64
}

// testCell is one row of cds.rollup.
type testCell struct {
	indicator, unit, dim string
	period               uint16
	day                  time.Time
	events.Amount
}

// commit writes cells and the commit markers that move the position from
// prev to next in one insert, as the projector does: the marker of the log
// and one of the fold index (n = 0).
func commit(tb testing.TB, db *chdb.DB, cells []testCell, prev, next pos) {
	tb.Helper()
	cols := chdb.NewRollupColumns(len(cells) + 2)
	for _, c := range cells {
		cols.Add(c.indicator, c.unit, c.period, c.dim, c.day, c.Amount)
	}
	cols.Add(chdb.MarkerIndicator, "CDS_EVENTS", 0, "", time.Unix(0, 0).UTC(), events.Amount{N: next.n - prev.n, Num: next.num - prev.num, Den: next.den - prev.den})
	cols.Add(chdb.MarkerIndicator, "CDS_EVENTS"+chdb.MarkerIndexSuffix, 0, "", time.Unix(0, 0).UTC(), events.Amount{Num: 2 * (next.num - prev.num), Den: 3 * (next.den - prev.den)})
	if err := db.InsertRollup(context.Background(), "", cols); err != nil {
		tb.Fatal(err)
	}
}

func cell(ind, unit string, period uint16, dim, day string, num, den float64, n int64) testCell {
	d := date(day)
	return testCell{indicator: ind, unit: unit, period: period, dim: dim,
		day: time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC), Amount: events.Amount{Num: num, Den: den, N: n}}
}

// Reference queries: one per snapshot day, as the store read them before it
// read both days in one scan.
const (
	refOwnSQL = `SELECT indicator, unit, sum(num), sum(den), toInt64(sum(n))
FROM %s WHERE indicator IN ? AND day <= ? AND period IN (0, ?)
GROUP BY indicator, unit`
	refReportedSQL = `SELECT indicator, period, dim, sum(num), sum(den), toInt64(sum(n))
FROM %s WHERE indicator IN ? AND day <= ? AND period <= ? AND period > 0
GROUP BY indicator, period, dim
HAVING sum(n) > 0`
)

func refSnapshot(tb testing.TB, db *chdb.DB, day registry.Date, own, reported []string) *snapshot {
	tb.Helper()
	ctx := context.Background()
	snap := newSnapshot(day)
	rows, err := db.Query(ctx, fmt.Sprintf(refOwnSQL, db.Table("rollup")), chdb.Set(own), day.String(), day.Year())
	if err != nil {
		tb.Fatal(err)
	}
	for rows.Next() {
		var ind, unit string
		var a events.Amount
		if err := rows.Scan(&ind, &unit, &a.Num, &a.Den, &a.N); err != nil {
			tb.Fatal(err)
		}
		if snap.own[ind] == nil {
			snap.own[ind] = map[string]events.Amount{}
		}
		snap.own[ind][unit] = a
	}
	rows.Close()
	rows, err = db.Query(ctx, fmt.Sprintf(refReportedSQL, db.Table("rollup")), chdb.Set(reported), day.String(), day.Year())
	if err != nil {
		tb.Fatal(err)
	}
	for rows.Next() {
		var ind, dim string
		var period uint16
		var a events.Amount
		if err := rows.Scan(&ind, &period, &dim, &a.Num, &a.Den, &a.N); err != nil {
			tb.Fatal(err)
		}
		if snap.reported[ind] == nil {
			snap.reported[ind] = map[int]map[string]events.Amount{}
		}
		if snap.reported[ind][int(period)] == nil {
			snap.reported[ind][int(period)] = map[string]events.Amount{}
		}
		snap.reported[ind][int(period)][dim] = a
	}
	rows.Close()
	return snap
}

// TestSnapshotsOneScan checks that the read of two days gives, for each day,
// what a query per day gives: stocks, flows of the day's year, reported
// figures per year and dimension with retracted ones left out; from the
// copies of cds.rollup (days in one month, in adjacent months, on month and
// year boundaries, across years) and by the scan of cds.rollup alike.
func TestSnapshotsOneScan(t *testing.T) {
	db := rollupDB(t)
	rng := rand.New(rand.NewPCG(6, 1))
	units := []string{"bg-vietyen", "bg-hiephoa", "bg-yenthe-a", "bg-ctk"}
	sectors := []string{"", "health", "transport"}
	var at pos
	for part := 0; part < 5; part++ {
		var cells []testCell
		for i := 0; i < 400; i++ {
			day := registry.NewDate(2021, 1, 1).AddDays(rng.IntN(5 * 365))
			u := units[rng.IntN(len(units))]
			num, den, n := float64(rng.IntN(5)-1), float64(rng.IntN(5)-1), int64(rng.IntN(3)-1)
			switch rng.IntN(4) {
			case 0: // a flow, in the year of its day
				cells = append(cells, cell("HSCV", u, uint16(day.Year()), "", day.String(), num, den, n))
			case 1: // a stock
				cells = append(cells, cell("DVC_L4", u, 0, "", day.String(), num, den, n))
			case 2: // a count
				cells = append(cells, cell("DNS", u, 0, "", day.String(), num, 0, n))
			default: // a reported figure for a year up to the day's
				y := uint16(day.Year() - rng.IntN(2))
				cells = append(cells, cell("KTS_NGANH", "bg-ctk", y, sectors[rng.IntN(len(sectors))], day.String(), num, den, n))
			}
		}
		next := pos{n: at.n + 100, num: at.num + 90, den: at.den + 4000}
		commit(t, db, cells, at, next)
		at = next
	}
	s, scan := NewStoreCache(db, 0), NewStoreScan(db)
	own, reported := []string{"HSCV", "DVC_L4", "DNS"}, []string{"KTS_NGANH"}
	pairs := [][2]string{
		{"2025-06-30", "2021-06-11"}, {"2021-06-11", "2025-06-30"}, {"2024-02-29", "2024-02-29"},
		{"2023-01-01", "2022-12-31"}, {"2020-01-01", "2026-01-01"},
		{"2024-03-01", "2024-03-31"}, {"2024-03-31", "2024-04-01"}, {"2024-02-01", "2024-02-29"},
		{"2022-12-31", "2022-12-31"}, {"2021-01-01", "2021-01-01"}, {"2023-05-15", "2024-05-14"},
		{"2025-12-31", "2022-01-31"},
	}
	for _, days := range pairs {
		a, b := date(days[0]), date(days[1])
		p, err := s.read(context.Background(), a, b, own, reported)
		if err != nil {
			t.Fatal(err)
		}
		pair, m := p.snaps, p.at
		sp, err := scan.read(context.Background(), a, b, own, reported)
		if err != nil {
			t.Fatal(err)
		}
		scanned, scanMark := sp.snaps, sp.at
		if !reflect.DeepEqual(pair, scanned) || scanMark != m {
			t.Errorf("%v: from the copies\n %+v %+v\nby the scan\n %+v %+v", days, pair[0], pair[1], scanned[0], scanned[1])
		}
		if want := markOf(chdb.Marks{"CDS_EVENTS": {N: at.n, Num: at.num, Den: at.den}, "CDS_EVENTS#fold_index": {Num: 2 * at.num, Den: 3 * at.den}}); m != want {
			t.Errorf("%v: markers %v, want %v", days, m, want)
		}
		if now, err := s.readMark(context.Background()); err != nil || now != m {
			t.Errorf("markers now %v (%v), want %v", now, err, m)
		}
		for i, day := range []registry.Date{a, b} {
			want := refSnapshot(t, db, day, own, reported)
			if !reflect.DeepEqual(pair[i], want) {
				t.Errorf("%v: snapshot at %s:\n got %+v\nwant %+v", days, day, pair[i], want)
			}
		}
	}
	if copies, fallbacks := s.ReadStats(); copies != uint64(len(pairs)) || fallbacks != 0 {
		t.Errorf("read %d pairs from the copies, %d by the scan; want %d, 0", copies, fallbacks, len(pairs))
	}
	if copies, fallbacks := scan.ReadStats(); copies != 0 || fallbacks != 0 {
		t.Errorf("the scan store read %d pairs from the copies, counted %d fallbacks; want 0, 0", copies, fallbacks)
	}
}

func hscv(tb testing.TB, e *Engine, unit, asOf string) (num, den float64) {
	tb.Helper()
	s, err := e.Unit(context.Background(), unit, Query{AsOf: date(asOf), Milestone: 2025})
	if err != nil {
		tb.Fatal(err)
	}
	for _, ind := range s.Indicators {
		if ind.Code == "HSCV" {
			if ind.Numerator == nil {
				return 0, 0
			}
			return *ind.Numerator, *ind.Denominator
		}
	}
	tb.Fatal("no HSCV")
	return 0, 0
}

// TestCacheFollowsCommits: a score read again after a commit counts the
// commit's cells, also when cds.rollup is emptied and refolded to the same
// stream sequence from other raw events (the fingerprint differs); with the
// markers unchanged the snapshots come from the cache.
func TestCacheFollowsCommits(t *testing.T) {
	db := rollupDB(t)
	e := &Engine{Catalog: catalog.Default(), Registry: registry.Sample(), Store: NewStoreCache(db, 4)}
	m1 := pos{n: 10, num: 10, den: 55}
	commit(t, db, []testCell{cell("HSCV", "bg-vietyen", 2025, "", "2025-03-01", 1, 2, 2)}, pos{}, m1)
	if num, den := hscv(t, e, "bg-vietyen", "2025-06-30"); num != 1 || den != 2 {
		t.Fatalf("HSCV %v/%v, want 1/2", num, den)
	}
	if num, den := hscv(t, e, "bg-vietyen", "2025-06-30"); num != 1 || den != 2 {
		t.Fatalf("HSCV again %v/%v, want 1/2", num, den)
	}
	if _, hits, misses := e.Store.CacheStats(); hits != 1 || misses != 1 {
		t.Fatalf("cache: %d hits, %d reads; want 1 and 1", hits, misses)
	}

	m2 := pos{n: 15, num: 13, den: 92}
	commit(t, db, []testCell{cell("HSCV", "bg-vietyen", 2025, "", "2025-04-01", 1, 1, 1)}, m1, m2)
	if num, den := hscv(t, e, "bg-vietyen", "2025-06-30"); num != 2 || den != 3 {
		t.Fatalf("HSCV after a commit %v/%v, want 2/3", num, den)
	}

	// Rebuilt from a log where other events were accepted: same sequence,
	// other raw rows.
	if err := db.Exec(context.Background(), "TRUNCATE TABLE "+db.Table("rollup")); err != nil {
		t.Fatal(err)
	}
	commit(t, db, []testCell{cell("HSCV", "bg-vietyen", 2025, "", "2025-03-01", 0, 3, 3)}, pos{}, pos{n: 15, num: 14, den: 108})
	if num, den := hscv(t, e, "bg-vietyen", "2025-06-30"); num != 0 || den != 3 {
		t.Fatalf("HSCV after a rebuild %v/%v, want 0/3", num, den)
	}
}

// TestCacheBounded: the cache keeps at most its size, least recently used
// out first, and a day read again after eviction is read again.
func TestCacheBounded(t *testing.T) {
	db := rollupDB(t)
	e := &Engine{Catalog: catalog.Default(), Registry: registry.Sample(), Store: NewStoreCache(db, 3)}
	commit(t, db, []testCell{cell("HSCV", "bg-vietyen", 2025, "", "2025-01-02", 1, 1, 1)}, pos{}, pos{n: 1, num: 1, den: 1})
	for d := 1; d <= 10; d++ {
		hscv(t, e, "bg-vietyen", fmt.Sprintf("2025-02-%02d", d))
	}
	if entries, hits, misses := e.Store.CacheStats(); entries != 3 || hits != 0 || misses != 10 {
		t.Fatalf("cache: %d entries, %d hits, %d reads; want 3, 0, 10", entries, hits, misses)
	}
	hscv(t, e, "bg-vietyen", "2025-02-10") // held
	hscv(t, e, "bg-vietyen", "2025-02-01") // evicted
	if entries, hits, misses := e.Store.CacheStats(); entries != 3 || hits != 1 || misses != 11 {
		t.Fatalf("cache: %d entries, %d hits, %d reads; want 3, 1, 11", entries, hits, misses)
	}
}

// TestCacheConcurrent: concurrent requests for the same scores share one
// read and get the same answer.
func TestCacheConcurrent(t *testing.T) {
	db := rollupDB(t)
	e := &Engine{Catalog: catalog.Default(), Registry: registry.Sample(), Store: NewStore(db)}
	commit(t, db, []testCell{cell("HSCV", "bg-vietyen", 2025, "", "2025-01-02", 3, 4, 4)}, pos{}, pos{n: 4, num: 4, den: 10})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			s, err := e.Level(context.Background(), registry.LevelDistrict, Query{AsOf: date("2025-06-30"), Milestone: 2025})
			if err != nil {
				t.Error(err)
				return
			}
			for _, u := range s.Units {
				for _, ind := range u.Indicators {
					if u.Unit == "bg-vietyen" && ind.Code == "HSCV" && (ind.Numerator == nil || *ind.Numerator != 3 || *ind.Denominator != 4) {
						t.Errorf("bg-vietyen HSCV: %+v", ind)
					}
				}
			}
		})
	}
	wg.Wait()
	if _, hits, misses := e.Store.CacheStats(); hits != 7 || misses != 1 {
		t.Fatalf("cache: %d hits, %d reads for 8 requests; want 7 and 1", hits, misses)
	}
}

// TestCopiesDiverge: when a copy of cds.rollup loses rows or gains a marker
// row no commit wrote, a read falls back to the scan of cds.rollup (counted)
// and is still exact; once the copies are refilled (the projector's
// recovery), reads come from them again. Marker units that sum to zero and
// were merged away in cds.rollup only do not count as a disagreement.
func TestCopiesDiverge(t *testing.T) {
	db := rollupDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m1, m2 := pos{n: 10, num: 10, den: 55}, pos{n: 20, num: 20, den: 210}
	commit(t, db, []testCell{cell("HSCV", "bg-vietyen", 2025, "", "2025-03-01", 1, 2, 2), cell("HSCV", "bg-vietyen", 2025, "", "2025-05-31", 3, 4, 1)}, pos{}, m1)
	commit(t, db, []testCell{cell("HSCV", "bg-vietyen", 2025, "", "2025-06-01", 5, 6, 1)}, m1, m2)
	s := NewStoreCache(db, 0)
	own := []string{"HSCV"}
	check := func(step string, copies, fallbacks uint64, agreeing bool) {
		t.Helper()
		p, err := s.read(ctx, date("2025-05-31"), date("2025-06-30"), own, nil)
		if err != nil {
			t.Fatal(err)
		}
		pair := p.snaps
		for i, day := range []string{"2025-05-31", "2025-06-30"} {
			if want := refSnapshot(t, db, date(day), own, nil); !reflect.DeepEqual(pair[i], want) {
				t.Errorf("%s: snapshot at %s:\n got %+v\nwant %+v", step, day, pair[i], want)
			}
		}
		if c, f := s.ReadStats(); c != copies || f != fallbacks {
			t.Errorf("%s: %d reads from the copies, %d fallbacks; want %d, %d", step, c, f, copies, fallbacks)
		}
		agree, err := db.CopiesAgree(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if agree != agreeing {
			t.Errorf("%s: CopiesAgree = %v, want %v", step, agree, agreeing)
		}
	}
	check("committed", 1, 0, true)

	// A lease marker that sums to zero, merged away in cds.rollup only.
	lease := func(num float64) {
		cols := chdb.NewRollupColumns(1)
		cols.Add(chdb.MarkerIndicator, "CDS_EVENTS"+chdb.MarkerLeaseSuffix, 0, "tok", time.Unix(0, 0).UTC(), events.Amount{Num: num})
		if err := db.InsertRollup(ctx, "", cols); err != nil {
			t.Fatal(err)
		}
	}
	lease(1)
	lease(-1)
	if err := db.Exec(ctx, "OPTIMIZE TABLE "+db.Table("rollup")+" FINAL"); err != nil {
		t.Fatal(err)
	}
	check("zero marker merged away in cds.rollup", 2, 0, true)

	for _, spoil := range []struct{ name, sql string }{
		{"a marker row written into the days of rollup_sums", "INSERT INTO " + db.Table("rollup_sums") +
			" (grain, bucket, indicator, unit, period, dim, num, den, n) SELECT 3, toDate(0), '" + chdb.MarkerIndicator + "', 'CDS_EVENTS', 0, '', 0, 0, 1"},
		{"rollup_sums lost its parts", "TRUNCATE TABLE " + db.Table("rollup_sums")},
		{"rollup_marks lost its parts", "TRUNCATE TABLE " + db.Table("rollup_marks")},
	} {
		c, f := s.ReadStats()
		if err := db.Exec(ctx, spoil.sql); err != nil {
			t.Fatal(err)
		}
		if spoil.name == "rollup_marks lost its parts" {
			// The cells' copies still agree: read from them, but the
			// markers' copy is no longer trusted.
			check(spoil.name, c+1, f, false)
			if s.marksCopy.Load() {
				t.Errorf("%s: the Store still trusts cds.rollup_marks", spoil.name)
			}
			if err := db.RefillCopies(ctx); err != nil {
				t.Fatal(err)
			}
			check(spoil.name+", refilled", c+2, f, true)
			if !s.marksCopy.Load() {
				t.Errorf("%s, refilled: the Store does not trust cds.rollup_marks", spoil.name)
			}
			continue
		}
		check(spoil.name, c, f+1, false)
		if err := db.RefillCopies(ctx); err != nil {
			t.Fatal(err)
		}
		check(spoil.name+", refilled", c+1, f+1, true)
	}

	// Truncating cds.rollup (a repair or a rewind) empties the copies too.
	if err := db.Truncate(ctx, "rollup"); err != nil {
		t.Fatal(err)
	}
	for _, tbl := range []string{"rollup_sums", "rollup_marks"} {
		var n uint64
		if err := db.QueryRow(ctx, "SELECT count() FROM "+db.Table(tbl)).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s after Truncate(rollup): %d rows (%v), want 0", tbl, n, err)
		}
	}
}

// TestMarksFromCopy: once a snapshot read found cds.rollup_marks equal to
// cds.rollup's markers, requests read the markers from it, and a score
// read after a commit still counts the commit; when the copy loses a
// commit's markers (a view's insert that failed), the next snapshot read
// stops the Store trusting it, answers stay exact, and the markers are
// read from cds.rollup again until a read finds them equal once more (the
// projector's recovery refills the copy). Silence's latest events are
// read at cds.rollup's markers, never at the copy's alone.
func TestMarksFromCopy(t *testing.T) {
	db := rollupDB(t)
	ctx := context.Background()
	e := &Engine{Catalog: catalog.Default(), Registry: registry.Sample(), Store: NewStoreCache(db, 4)}
	m1 := pos{n: 10, num: 10, den: 55}
	commit(t, db, []testCell{cell("HSCV", "bg-vietyen", 2025, "", "2025-03-01", 1, 2, 2)}, pos{}, m1)
	if num, den := hscv(t, e, "bg-vietyen", "2025-06-30"); num != 1 || den != 2 {
		t.Fatalf("HSCV %v/%v, want 1/2", num, den)
	}
	if all, fromCopy := e.Store.MarkReads(); all != 1 || fromCopy != 0 {
		t.Fatalf("first request: %d marker reads, %d from the copy; want 1 and 0 (not trusted before a snapshot read)", all, fromCopy)
	}
	if !e.Store.marksCopy.Load() {
		t.Fatal("the Store does not trust cds.rollup_marks after a snapshot read that found it equal")
	}
	m2 := pos{n: 15, num: 13, den: 92}
	commit(t, db, []testCell{cell("HSCV", "bg-vietyen", 2025, "", "2025-04-01", 1, 1, 1)}, m1, m2)
	if num, den := hscv(t, e, "bg-vietyen", "2025-06-30"); num != 2 || den != 3 {
		t.Fatalf("HSCV after a commit %v/%v, want 2/3", num, den)
	}
	hscv(t, e, "bg-vietyen", "2025-06-30")
	if all, fromCopy := e.Store.MarkReads(); all != 3 || fromCopy != 2 {
		t.Fatalf("after a commit: %d marker reads, %d from the copy; want 3 and 2", all, fromCopy)
	}
	if _, hits, misses := e.Store.CacheStats(); hits != 1 || misses != 2 {
		t.Fatalf("cache: %d hits, %d reads; want 1 and 2", hits, misses)
	}
	if _, err := e.Silence(ctx, Query{AsOf: date("2025-06-30"), Milestone: 2025}, 7, ""); err != nil {
		t.Fatal(err)
	}
	if k, ok := lastsKeyOnly(e.Store); !ok || k.mark.watermark != uint64(m2.n) {
		t.Fatalf("silence's latest events kept under %+v, want the markers of cds.rollup at %d", k, m2.n)
	}

	// A commit whose markers did not reach the copy: the copy alone would
	// say the commit before it.
	m3 := pos{n: 21, num: 20, den: 150}
	commit(t, db, []testCell{cell("HSCV", "bg-vietyen", 2025, "", "2025-05-01", 1, 1, 1)}, m2, m3)
	if err := db.Exec(ctx, fmt.Sprintf("INSERT INTO %s (unit, dim, num, den, n) SELECT 'CDS_EVENTS', '', %v, %v, %v UNION ALL SELECT 'CDS_EVENTS#fold_index', '', %v, %v, 0",
		db.Table("rollup_marks"), -(m3.num-m2.num), -(m3.den-m2.den), -(m3.n-m2.n), -2*(m3.num-m2.num), -3*(m3.den-m2.den))); err != nil {
		t.Fatal(err)
	}
	// The next commit moves the copy to markers no read has seen: a read
	// of the pair, which finds the copy wrong.
	m4 := pos{n: 30, num: 29, den: 300}
	commit(t, db, []testCell{cell("HSCV", "bg-vietyen", 2025, "", "2025-05-02", 1, 1, 1)}, m3, m4)
	if num, den := hscv(t, e, "bg-vietyen", "2025-06-30"); num != 4 || den != 5 {
		t.Fatalf("HSCV with the copy of the markers behind %v/%v, want 4/5", num, den)
	}
	if e.Store.marksCopy.Load() {
		t.Fatal("the Store still trusts cds.rollup_marks after a read that found it behind cds.rollup")
	}
	_, fromCopy := e.Store.MarkReads()
	if num, den := hscv(t, e, "bg-vietyen", "2025-06-30"); num != 4 || den != 5 {
		t.Fatalf("HSCV again %v/%v, want 4/5", num, den)
	}
	if _, n := e.Store.MarkReads(); n != fromCopy {
		t.Fatalf("markers read from the copy while it is not trusted: %d, want %d", n, fromCopy)
	}
	if _, err := e.Silence(ctx, Query{AsOf: date("2025-06-30"), Milestone: 2025}, 7, ""); err != nil {
		t.Fatal(err)
	}
	if err := db.RefillCopies(ctx); err != nil {
		t.Fatal(err)
	}
	m5 := pos{n: 31, num: 30, den: 331}
	commit(t, db, []testCell{cell("HSCV", "bg-vietyen", 2025, "", "2025-05-03", 1, 1, 1)}, m4, m5)
	if num, den := hscv(t, e, "bg-vietyen", "2025-06-30"); num != 5 || den != 6 {
		t.Fatalf("HSCV after the refill %v/%v, want 5/6", num, den)
	}
	if !e.Store.marksCopy.Load() {
		t.Fatal("the Store does not trust cds.rollup_marks once refilled")
	}
}

// lastsKeyOnly returns the key of the one entry of s's latest events.
func lastsKeyOnly(s *Store) (lastKey, bool) {
	s.lasts.mu.Lock()
	defer s.lasts.mu.Unlock()
	if s.lasts.lru.Len() == 0 {
		return lastKey{}, false
	}
	return s.lasts.lru.Front().Value.(*cacheEntry[lastKey, *lastsEntry]).key, true
}
