package chdb

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/bacgiang/cds/events"
)

// BenchmarkDrillTablePage times a drill-down page of 100 events with its
// total (DrillTablePage, what the API reads) of HSCV's events of 2025 at
// 2025-06-30, for the province (every agency) first and at offset 500, and
// for a district's first, on the kind of data cds bench makes (every
// workfile.processed event its own key, 2021-06 to 2025-06, 240 units;
// CDS_DRILL_BENCH_EVENTS events, 1,000,000 by default), refilled at the
// last event ("at"), then pinned at that commit once a later commit has
// changed rows of the pages' days ("pinned"). Each read is reported with
// the ClickHouse queries it ran (system.events: SelectQuery), the rows
// they read (the server's progress) and the bytes of parts decompressed
// (CompressedReadBufferBytes), for the read of before issue 14's fewer,
// cheaper reads (oldDrillTablePage, "old") and the current one ("new"),
// both checked against DrillRows' page.
func BenchmarkDrillTablePage(b *testing.B) {
	n := 1000000
	if s := os.Getenv("CDS_DRILL_BENCH_EVENTS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatalf("CDS_DRILL_BENCH_EVENTS: %v", err)
		}
	}
	db, last := drillEventsFixture(b, n)
	ctx := context.Background()
	f, _ := events.FeedingOf("HSCV")
	at := last
	type page struct {
		name   string
		units  []string
		offset int
	}
	pages := []page{{"province/first", nil, 0}, {"province/500", nil, 500}, {"district/first", []string{"bg-u007", "bg-u008"}, 0}}
	reads := []struct {
		name string
		read func(context.Context, DrillFilter, int, int) ([]DrillRow, uint64, error)
	}{{"old", db.oldDrillTablePage}, {"new", db.DrillTablePage}}
	run := func(state string) {
		for _, p := range pages {
			filt := DrillFilter{Types: f.Types, Entity: f.Entity, KeyField: f.Key, AgencyScoped: true, Units: p.units, AsOf: "2025-06-30", Year: 2025, UpTo: &at}
			want, err := db.DrillRows(ctx, filt, false, p.offset, 100)
			if err != nil {
				b.Fatal(err)
			}
			if len(want) != 100 {
				b.Fatalf("%s: %d rows, want a full page", p.name, len(want))
			}
			for _, r := range reads {
				got, total, err := r.read(ctx, filt, p.offset, 100)
				if err != nil || fmt.Sprint(got) != fmt.Sprint(want) || total == 0 {
					b.Fatalf("%s %s %s: %d rows, total %d, %v; not DrillRows' page", p.name, state, r.name, len(got), total, err)
				}
				b.Run(p.name+"/"+state+"/"+r.name, func(b *testing.B) {
					var rows atomic.Uint64
					ctx := clickhouse.Context(ctx, clickhouse.WithProgress(func(p *clickhouse.Progress) { rows.Add(p.Rows) }))
					s0 := serverEvents(b, db)
					for b.Loop() {
						if _, _, err := r.read(ctx, filt, p.offset, 100); err != nil {
							b.Fatal(err)
						}
					}
					s1 := serverEvents(b, db)
					// The read of system.events is a select of its own.
					b.ReportMetric(float64(s1.queries-s0.queries-1)/float64(b.N), "queries/op")
					b.ReportMetric(float64(rows.Load())/float64(b.N), "rows_read/op")
					b.ReportMetric(float64(s1.decompressed-s0.decompressed)/float64(b.N)/1e6, "MB_decompressed/op")
				})
			}
		}
	}
	run("at")
	if err := db.InsertDrill(ctx, "", drillEventsCommit(b, db, last+1)); err != nil {
		b.Fatal(err)
	}
	run("pinned")
}

// serverStats are counters of the server (system.events): the SELECT
// queries run and the bytes decompressed from parts, by every query.
type serverStats struct{ queries, decompressed uint64 }

// serverEvents reads the server's counters so far.
func serverEvents(b *testing.B, db *DB) serverStats {
	b.Helper()
	var s serverStats
	q := "SELECT toUInt64(sumIf(value, event = 'SelectQuery')), toUInt64(sumIf(value, event = 'CompressedReadBufferBytes')) FROM system.events"
	if err := db.QueryRow(context.Background(), q).Scan(&s.queries, &s.decompressed); err != nil {
		b.Fatal(err)
	}
	return s
}

// drillEventsFixture writes n events as cds bench makes them (80%
// workfile.processed, each its own key; the others of types HSCV does not
// read) from 240 units over 2021-06-11 to 2025-06-30, in inserts of
// 20,000 (parts, as the projector's commits make), and refills the
// drill-down tables at the last; it returns the last seq.
func drillEventsFixture(b testing.TB, n int) (*DB, uint64) {
	db := migratedDB(b, "cds_drill_events")
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(19, 4))
	base := time.Date(2021, 6, 11, 8, 0, 0, 0, events.Zone)
	span := int(time.Date(2025, 6, 30, 23, 0, 0, 0, events.Zone).Sub(base) / time.Second)
	var c EventColumns
	const batch = 20000
	c.Grow(batch)
	for i := 1; i <= n; i++ {
		agency := fmt.Sprintf("bg-u%03d", rng.IntN(240))
		at := base.Add(time.Duration(rng.IntN(span)) * time.Second)
		id := fmt.Sprintf("b%09d-%016x", i, rng.Uint64())
		typ, data := "report.submitted", fmt.Sprintf(`{"report_id":"R-%d","regime":"monthly","via_system":true}`, i)
		if rng.IntN(100) < 80 {
			typ, data = "workfile.processed", fmt.Sprintf(`{"workfile_id":"WF-%d","online":%t}`, i, rng.IntN(10) < 8)
		}
		c.ID, c.Type, c.Agency, c.Supersedes, c.Data = append(c.ID, id), append(c.Type, typ), append(c.Agency, agency), append(c.Supersedes, ""), append(c.Data, data)
		c.V, c.Retraction = append(c.V, 1), append(c.Retraction, 0)
		c.OccurredAt, c.ReceivedAt, c.Seq = append(c.OccurredAt, at), append(c.ReceivedAt, at), append(c.Seq, uint64(i))
		if c.Len() == batch || i == n {
			if err := db.InsertEvents(ctx, "", &c); err != nil {
				b.Fatal(err)
			}
			c.Reset()
		}
	}
	if err := db.RefillDrill(ctx, uint64(n)); err != nil {
		b.Fatal(err)
	}
	return db, uint64(n)
}

// drillEventsCommit is a commit at seq after the fixture's: the rows of
// workfile events of 2025-01-01 and of 2025-06-01 to 2025-06-30 (the
// pages' days), each given a next on its own day (no longer counting), as
// a later event of their keys would, with the tables' marker.
func drillEventsCommit(b testing.TB, db *DB, seq uint64) *DrillColumns {
	rows, err := db.Query(context.Background(), "SELECT agency, toUnixTimestamp(occurred_at), tie, toUnixTimestamp(next_at) FROM "+db.Table("drill_list")+
		" FINAL WHERE entity = 'workfile' AND (toDate(occurred_at) = '2025-01-01' OR toDate(occurred_at) >= '2025-06-01') AND tie % 7 = 0")
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var c DrillColumns
	for rows.Next() {
		var agency string
		var at, next uint32
		var tie uint64
		if err := rows.Scan(&agency, &at, &tie, &next); err != nil {
			b.Fatal(err)
		}
		c.Add("workfile", agency, at, at+1, next, tie, false, seq)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	c.AddMarker(seq, seq-1)
	return &c
}
