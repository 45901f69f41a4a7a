package chdb

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/chserver/chtest"
)

// BenchmarkCommitDrill times what a batch of 2,000 events writes to
// ClickHouse (its raw rows, then its cells and marker) without and with
// its 3,000 rows of cds.drill (a new entry and a moved neighbour for most
// events, and the table's marker), in one run on the same server: the
// commit cost the drill-down's table adds.
func BenchmarkCommitDrill(b *testing.B) {
	srv := chtest.Start(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	db, err := Open(ctx, Config{Addr: srv.Addr(), Database: "cds_commit_drill"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(14, 3))
	var seq uint64
	var tWithout, tWith time.Duration
	for b.Loop() {
		for _, drill := range []bool{false, true} {
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
			d.AddMarker(seq)
			cells.Add(MarkerIndicator, "CDS_EVENTS", 0, "", time.Unix(0, 0).UTC(), events.Amount{N: 2000, Num: 1, Den: 1})
			t0 := time.Now()
			if err := db.InsertEvents(ctx, "", &raw); err != nil {
				b.Fatal(err)
			}
			if drill {
				if err := db.InsertDrill(ctx, "", &d); err != nil {
					b.Fatal(err)
				}
			}
			if err := db.InsertRollup(ctx, "", cells); err != nil {
				b.Fatal(err)
			}
			if drill {
				tWith += time.Since(t0)
			} else {
				tWithout += time.Since(t0)
			}
		}
	}
	b.ReportMetric(float64(tWithout.Microseconds())/1000/float64(b.N), "ms_without_drill/op")
	b.ReportMetric(float64(tWith.Microseconds())/1000/float64(b.N), "ms_with_drill/op")
	b.ReportMetric(float64(tWith)/float64(tWithout), "with_vs_without")
}
