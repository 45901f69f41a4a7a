package chdb

import (
	"context"
	"errors"
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

// steadyCommit is a commit at seq continuing prev of n new workfile
// events of 2025-06-02 09:00 (new keys, as cds bench's steady flow
// publishes them), of random units of drillEventsFixture's, the first of
// bg-u007.
func steadyCommit(seq, prev uint64, n int) *DrillColumns {
	rng := rand.New(rand.NewPCG(seq, 21))
	at := uint32(time.Date(2025, 6, 2, 9, 0, 0, 0, events.Zone).Unix())
	var c DrillColumns
	for i := range n {
		u := rng.IntN(240)
		if i == 0 {
			u = 7
		}
		c.Add("workfile", fmt.Sprintf("bg-u%03d", u), at, DrillNoNext, at, rng.Uint64(), false, seq)
	}
	c.AddMarker(seq, prev)
	return &c
}

// TestDrillSince: the changes of later commits read from cds.drill_log
// move a page's total by what DrillTableCount counts at the two commits,
// say the list up to the page's last row unchanged when they all come
// after it (a full page read at the later commit is then the same) and
// changed when one comes before it; for a page not full the total says
// whether rows joined it; a log that does not chain back to the commit
// the page was read at is ErrDrillMoved.
func TestDrillSince(t *testing.T) {
	db, last := drillEventsFixture(t, 20000)
	ctx := context.Background()
	f, _ := events.FeedingOf("HSCV")
	at := func(units []string, c uint64) DrillFilter {
		return DrillFilter{Types: f.Types, Entity: f.Entity, KeyField: f.Key, AgencyScoped: true, Units: units, AsOf: "2025-06-30", Year: 2025, UpTo: &c}
	}
	count := func(units []string, c uint64) int64 {
		n, err := db.DrillTableCount(ctx, at(units, c))
		if err != nil {
			t.Fatal(err)
		}
		return int64(n)
	}
	if err := db.InsertDrill(ctx, "", steadyCommit(last+1, last, 200)); err != nil {
		t.Fatal(err)
	}
	if err := db.InsertDrill(ctx, "", drillEventsCommit(t, db, last+2)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		units    []string
		offset   int
		to       uint64
		wantPage bool
	}{
		{"province first, new events of June", nil, 0, last + 1, false},
		{"province at 100, new events of June", nil, 100, last + 1, false},
		{"district (page not full, its last row after 2 June), new events of June", []string{"bg-u007", "bg-u008"}, 0, last + 1, true},
		{"province first, rows of 1 January moved", nil, 0, last + 2, true},
	} {
		page, _, err := db.DrillTablePage(ctx, at(tc.units, last), tc.offset, 100)
		if err != nil {
			t.Fatal(err)
		}
		var lastRow *DrillRow
		if len(page) > 0 {
			lastRow = &page[len(page)-1]
		}
		m, err := db.DrillSince(ctx, at(tc.units, tc.to), last, lastRow)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if want := count(tc.units, tc.to) - count(tc.units, last); m.Total != want || m.Page != tc.wantPage {
			t.Errorf("%s: total moved by %d, page moved %t; want %d, %t", tc.name, m.Total, m.Page, want, tc.wantPage)
		}
		if !m.Page {
			// The places of the rows (the events of steadyCommit are not
			// in cds.events).
			before, _, err := db.drillTableRefsTotal(ctx, at(tc.units, last), false, tc.offset, 100)
			if err != nil {
				t.Fatal(err)
			}
			later, _, err := db.drillTableRefsTotal(ctx, at(tc.units, tc.to), false, tc.offset, 100)
			if err != nil {
				t.Fatal(err)
			}
			// The rows up to the page's last are the same (a page not full
			// takes the rows that joined it after its last: the total's).
			joined := count(tc.units, tc.to) - int64(tc.offset+len(page))
			if len(page) == 100 {
				joined = 0
			}
			if len(later) < len(before) || fmt.Sprint(later[:len(before)]) != fmt.Sprint(before) || int64(len(later)-len(page)) != min(joined, int64(100-len(page))) {
				t.Errorf("%s: the page at the later commit, %d rows, is not the page before (%d rows) and the %d that joined it\n%v\n%v", tc.name, len(later), len(page), joined, before, later)
			}
		}
	}
	if _, err := db.DrillSince(ctx, at(nil, last+2), last-1, nil); !errors.Is(err, ErrDrillMoved) {
		t.Errorf("from a commit the log does not hold: %v, want ErrDrillMoved", err)
	}
}

// BenchmarkDrillSince compares, once a commit of 200 new events of
// 2025-06-02 (cds bench's steady flow) has landed, reading a page of 100
// events again at that commit (DrillTablePage, "read") with carrying the
// page read at the commit before over to it (DrillSince, "carried"), for
// the province's first page, its page at offset 500 and a district's
// first, on drillEventsFixture's data (CDS_DRILL_BENCH_EVENTS events,
// 1,000,000 by default); queries, rows read (the server's progress) and
// bytes decompressed per read as in BenchmarkDrillTablePage.
//
//	CDS_DRILL_BENCH_EVENTS=300000 go test -run '^$' -bench DrillSince -benchtime 20x ./internal/chdb/
func BenchmarkDrillSince(b *testing.B) {
	n := 1000000
	if s := os.Getenv("CDS_DRILL_BENCH_EVENTS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatalf("CDS_DRILL_BENCH_EVENTS: %v", err)
		}
	}
	db, last := drillEventsFixture(b, n)
	ctx := context.Background()
	if err := db.InsertDrill(ctx, "", steadyCommit(last+1, last, 200)); err != nil {
		b.Fatal(err)
	}
	f, _ := events.FeedingOf("HSCV")
	for _, p := range []struct {
		name   string
		units  []string
		offset int
	}{{"province/first", nil, 0}, {"province/500", nil, 500}, {"district/first", []string{"bg-u007", "bg-u008", "bg-u009", "bg-u010", "bg-u011", "bg-u012", "bg-u013", "bg-u014"}, 0}} {
		before, now := last, last+1
		filt := DrillFilter{Types: f.Types, Entity: f.Entity, KeyField: f.Key, AgencyScoped: true, Units: p.units, AsOf: "2025-06-30", Year: 2025, UpTo: &before}
		page, _, err := db.DrillTablePage(ctx, filt, p.offset, 100)
		if err != nil || len(page) != 100 {
			b.Fatalf("%s: %d rows, %v; want a full page", p.name, len(page), err)
		}
		filt.UpTo = &now
		for _, way := range []struct {
			name string
			read func(context.Context) error
		}{
			{"read", func(ctx context.Context) error { _, _, err := db.DrillTablePage(ctx, filt, p.offset, 100); return err }},
			{"carried", func(ctx context.Context) error {
				m, err := db.DrillSince(ctx, filt, before, &page[99])
				if err == nil && m.Page {
					err = fmt.Errorf("the page moved")
				}
				return err
			}},
		} {
			b.Run(p.name+"/"+way.name, func(b *testing.B) {
				var rows atomic.Uint64
				ctx := clickhouse.Context(ctx, clickhouse.WithProgress(func(p *clickhouse.Progress) { rows.Add(p.Rows) }))
				s0 := serverEvents(b, db)
				for b.Loop() {
					if err := way.read(ctx); err != nil {
						b.Fatal(err)
					}
				}
				s1 := serverEvents(b, db)
				b.ReportMetric(float64(s1.queries-s0.queries-1)/float64(b.N), "queries/op")
				b.ReportMetric(float64(rows.Load())/float64(b.N), "rows_read/op")
				b.ReportMetric(float64(s1.decompressed-s0.decompressed)/float64(b.N)/1e6, "MB_decompressed/op")
			})
		}
	}
}
