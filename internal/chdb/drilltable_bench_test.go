package chdb

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/bacgiang/cds/events"
)

// BenchmarkCommitDrill times what a batch of 2,000 events writes to
// ClickHouse (its raw rows, then its cells and marker) without and with
// its 3,000 rows of cds.drill_list (a new entry and a moved neighbour for most
// events, and the table's marker), and with them but without their
// changes in cds.drill_log (as before it), in one run on the same server:
// the commit cost the drill-down's tables add, and the log's share.
func BenchmarkCommitDrill(b *testing.B) {
	db := migratedDB(b, "cds_commit_drill")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rng := rand.New(rand.NewPCG(14, 3))
	var seq, marked uint64 // the last sequence; the drill tables' marker
	var tWithout, tWith, tNoLog time.Duration
	for b.Loop() {
		for _, way := range []int{0, 1, 2} { // without drill rows, with, with but no log
			drill := way > 0
			var raw EventColumns
			raw.Grow(2000)
			cells := NewRollupColumns(2001)
			var d DrillColumns
			for range 2000 {
				seq++
				at := time.Date(2021, 6, 11, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(1480*24)) * time.Hour)
				agency := "bg-u" + string(rune('a'+rng.IntN(26)))
				id := fmt.Sprintf("e%d", seq)
				raw.ID, raw.Type, raw.Agency, raw.Supersedes = append(raw.ID, id), append(raw.Type, "workfile.processed"), append(raw.Agency, agency), append(raw.Supersedes, "")
				raw.Data = append(raw.Data, fmt.Sprintf(`{"workfile_id":"W%d","online":true}`, rng.IntN(1000000)))
				raw.V, raw.Retraction = append(raw.V, 1), append(raw.Retraction, 0)
				raw.OccurredAt, raw.ReceivedAt, raw.Seq = append(raw.OccurredAt, at), append(raw.ReceivedAt, at), append(raw.Seq, seq)
				cells.Add("HSCV", agency, uint16(at.Year()), "", at, events.Amount{Num: 1, Den: 1, N: 1})
				d.Add("workfile", agency, uint32(at.Unix()), DrillNoNext, uint32(at.Unix()), rng.Uint64(), false, seq)
				if rng.IntN(2) == 0 {
					d.Add("workfile", agency, uint32(at.Unix())-3600, uint32(at.Unix()), DrillNoNext, rng.Uint64(), false, seq)
				}
			}
			if drill {
				d.AddMarker(seq, marked)
				marked = seq
			}
			cells.Add(MarkerIndicator, "CDS_EVENTS", 0, "", time.Unix(0, 0).UTC(), events.Amount{N: 2000, Num: 1, Den: 1})
			t0 := time.Now()
			if err := db.InsertEvents(ctx, "", &raw); err != nil {
				b.Fatal(err)
			}
			switch way {
			case 1:
				if err := db.InsertDrill(ctx, "", &d); err != nil {
					b.Fatal(err)
				}
			case 2:
				if err := db.insertDrillTables(ctx, "", &d); err != nil {
					b.Fatal(err)
				}
			}
			if err := db.InsertRollup(ctx, "", cells); err != nil {
				b.Fatal(err)
			}
			switch way {
			case 0:
				tWithout += time.Since(t0)
			case 1:
				tWith += time.Since(t0)
			case 2:
				tNoLog += time.Since(t0)
			}
		}
	}
	b.ReportMetric(float64(tWithout.Microseconds())/1000/float64(b.N), "ms_without_drill/op")
	b.ReportMetric(float64(tWith.Microseconds())/1000/float64(b.N), "ms_with_drill/op")
	b.ReportMetric(float64(tNoLog.Microseconds())/1000/float64(b.N), "ms_with_drill_no_log/op")
	b.ReportMetric(float64(tWith)/float64(tWithout), "with_vs_without")
	b.ReportMetric(float64(tWith)/float64(tNoLog), "log_vs_no_log")
}

// BenchmarkDrillPage times a drill-down page of 100 rows (the first and
// one at 90% of the listing) and its total, for every agency (the
// province) and for one, on 300,000 rows of one entity over 100 agencies
// and four years, each key's rows written twice (as the latest, then with
// their next): "before" is cds.drill as migration 0017 made it (ordered by
// agency first, read whole under FINAL, the total a second FINAL scan),
// "after" cds.drill_list and cds.drill_days (the page's days only, the
// total a sum of counts). Both give the same rows; each sub-benchmark's
// time is one page or one total. Then "pinned": the same pages and totals
// at commit 2 once a third commit has changed 3,000 rows (a busy
// projector's commit), read with that commit taken back from
// cds.drill_log, the same rows again.
func BenchmarkDrillPage(b *testing.B) {
	db, old := drillPageFixture(b)
	ctx := context.Background()
	up := uint64(2)
	type read struct {
		name   string
		f      DrillFilter
		offset int // -1: the total
		want   string
	}
	var pinned []read
	for _, who := range []struct {
		name  string
		units []string
	}{{"province", nil}, {"district", []string{"bg-u07"}}} {
		f := DrillFilter{Entity: "workfile", AgencyScoped: true, Units: who.units, AsOf: "2025-06-30", Year: 2025, UpTo: &up}
		total, err := db.DrillTableCount(ctx, f)
		if err != nil {
			b.Fatal(err)
		}
		oldW, _ := drillTableWhere(f)
		oldList := oldW.rows + " AND next_at >= toDateTime(?)"
		oldArgs := append(oldW.rowsArgs[:len(oldW.rowsArgs):len(oldW.rowsArgs)], oldW.end)
		var oldTotal uint64
		if err := db.QueryRow(noPrewhere(ctx), "SELECT count() FROM "+old+" FINAL WHERE "+oldList, oldArgs...).Scan(&oldTotal); err != nil || oldTotal != total {
			b.Fatalf("%s: total %d before, %d after (%v)", who.name, oldTotal, total, err)
		}
		oldPage := func(offset int) ([]drillRef, error) {
			rows, err := db.Query(noPrewhere(ctx), "SELECT agency, toUnixTimestamp(occurred_at), tie FROM "+old+" FINAL WHERE "+oldList+
				" ORDER BY occurred_at, tie, agency LIMIT ?, ?", append(oldArgs[:len(oldArgs):len(oldArgs)], offset, 100)...)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			var out []drillRef
			for rows.Next() {
				var r drillRef
				if err := rows.Scan(&r.agency, &r.at, &r.tie); err != nil {
					return nil, err
				}
				out = append(out, r)
			}
			return out, rows.Err()
		}
		for _, pg := range []struct {
			name   string
			offset int
		}{{"first", 0}, {"deep", int(total) * 9 / 10}} {
			want, err := oldPage(pg.offset)
			if err != nil {
				b.Fatal(err)
			}
			got, err := db.drillTableRefs(ctx, f, false, pg.offset, 100)
			if err != nil || fmt.Sprint(got) != fmt.Sprint(want) || len(got) == 0 {
				b.Fatalf("%s %s page: %d rows after, %d before (%v)", who.name, pg.name, len(got), len(want), err)
			}
			pinned = append(pinned, read{who.name + "/" + pg.name, f, pg.offset, fmt.Sprint(got)})
			b.Run(who.name+"/"+pg.name+"/before", func(b *testing.B) {
				for b.Loop() {
					if _, err := oldPage(pg.offset); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(who.name+"/"+pg.name+"/after", func(b *testing.B) {
				for b.Loop() {
					if _, err := db.drillTableRefs(ctx, f, false, pg.offset, 100); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		b.Run(who.name+"/total/before", func(b *testing.B) {
			for b.Loop() {
				var n uint64
				if err := db.QueryRow(noPrewhere(ctx), "SELECT count() FROM "+old+" FINAL WHERE "+oldList, oldArgs...).Scan(&n); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(who.name+"/total/after", func(b *testing.B) {
			for b.Loop() {
				if _, err := db.DrillTableCount(ctx, f); err != nil {
					b.Fatal(err)
				}
			}
		})
		pinned = append(pinned, read{who.name + "/total", f, -1, fmt.Sprint(total)})
	}
	if err := db.InsertDrill(ctx, "", drillPageCommit(b, db, 3)); err != nil {
		b.Fatal(err)
	}
	for _, r := range pinned {
		get := func() (string, error) {
			if r.offset < 0 {
				n, err := db.DrillTableCount(ctx, r.f)
				return fmt.Sprint(n), err
			}
			rows, err := db.drillTableRefs(ctx, r.f, false, r.offset, 100)
			return fmt.Sprint(rows), err
		}
		if got, err := get(); err != nil || got != r.want {
			b.Fatalf("%s at commit 2 after commit 3: %v, not the same as before commit 3", r.name, err)
		}
		b.Run(r.name+"/pinned", func(b *testing.B) {
			for b.Loop() {
				if _, err := get(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// drillPageCommit is a commit at seq after the fixture's: 3,000 rows of
// cds.drill_list whose next moves (to a day later, or to their own
// occurred_at: removed) and 500 new latest entries, with the tables'
// marker.
func drillPageCommit(b *testing.B, db *DB, seq uint64) *DrillColumns {
	rows, err := db.Query(context.Background(), "SELECT agency, toUnixTimestamp(occurred_at), tie, toUnixTimestamp(next_at) FROM "+db.Table("drill_list")+
		" FINAL WHERE entity = 'workfile' AND cityHash64(tie) % 100 = 0 LIMIT 3000")
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	rng := rand.New(rand.NewPCG(17, 5))
	var c DrillColumns
	for i := 0; rows.Next(); i++ {
		var agency string
		var at, next uint32
		var tie uint64
		if err := rows.Scan(&agency, &at, &tie, &next); err != nil {
			b.Fatal(err)
		}
		moved := at + uint32(rng.IntN(20*86400))
		if i%3 == 0 {
			moved = at
		}
		c.Add("workfile", agency, at, moved, next, tie, false, seq)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, events.Zone).Unix()
	for range 500 {
		at := uint32(start + rng.Int64N(180*86400))
		c.Add("workfile", fmt.Sprintf("bg-u%02d", rng.IntN(100)), at, DrillNoNext, at, rng.Uint64(), false, seq)
	}
	c.AddMarker(seq, seq-1)
	return &c
}

// drillPageFixture makes the tables of BenchmarkDrillPage: cds.drill_list
// and cds.drill_days, and the table of migration 0017 (its name returned),
// with the same rows at commit 2.
func drillPageFixture(b testing.TB) (*DB, string) {
	db := migratedDB(b, "cds_drill_page")
	ctx := context.Background()
	old := db.Table("drill_old")
	if err := db.Exec(ctx, "CREATE TABLE "+old+` (entity String, agency String, occurred_at DateTime('Asia/Ho_Chi_Minh'), tie UInt64,
		next_at DateTime('Asia/Ho_Chi_Minh'), removes UInt8, seq UInt64) ENGINE = ReplacingMergeTree(seq) PARTITION BY tuple() ORDER BY (entity, agency, occurred_at, tie)`); err != nil {
		b.Fatal(err)
	}
	const rows, agencies = 300000, 100
	rng := rand.New(rand.NewPCG(16, 4))
	start := time.Date(2022, 1, 1, 0, 0, 0, 0, events.Zone).Unix()
	var first, second DrillColumns
	for n := 0; n < rows; {
		agency := fmt.Sprintf("bg-u%02d", rng.IntN(agencies))
		at := uint32(start + rng.Int64N(4*365*86400))
		k := 1 + rng.IntN(4)
		for i := range k {
			next := uint32(DrillNoNext)
			if i+1 < k {
				next = at + uint32(rng.IntN(10*86400))
			}
			tie := rng.Uint64()
			first.Add("workfile", agency, at, DrillNoNext, at, tie, false, 1)
			if next != DrillNoNext {
				second.Add("workfile", agency, at, next, DrillNoNext, tie, false, 2)
			}
			at, n = next, n+1
		}
	}
	first.AddMarker(1, 0)
	second.AddMarker(2, 1)
	for _, c := range []*DrillColumns{&first, &second} {
		if err := db.InsertDrill(ctx, "", c); err != nil {
			b.Fatal(err)
		}
		t := c.unixTimes(c.OccurredAt, c.NextAt)
		if err := db.insertColumns(ctx, "", fmt.Sprintf(insertDrillSQL, old), []any{c.Entity, c.Agency, t[0], c.Tie, t[1], c.Removes, c.Seq}); err != nil {
			b.Fatal(err)
		}
	}
	return db, old
}
