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

// BenchmarkSilenceRead times silence's read of the latest events per
// agency and type, on the same server and data, each way in every
// iteration: the scan of cds.events before cds.event_lasts (the query of
// 662be7f), the scan at a commit (the fallback: LastEvents), the read of
// the last 1,000 sequences' rows (incremental reads, the way not taken),
// the copy at
// the commit (LastEventsAt), the copy while a batch of 1,000 events of the
// last day is above the commit (its part not merged: left out), and once
// a merge has taken that part in (its keys read from cds.events). It
// reports each one's milliseconds and the rows ClickHouse read (the
// queries' progress). cds.events holds CDS_BENCH_SILENCE_EVENTS rows
// (default 2,000,000) of 250 agencies and 6 types, uniform from
// 2021-06-11 to 2025-06-30 (as cds bench's); the reads are at 2025-06-30.
func BenchmarkSilenceRead(b *testing.B) {
	n := 2_000_000
	if s := os.Getenv("CDS_BENCH_SILENCE_EVENTS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	db := migratedDB(b, "cds_silence_bench")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	base := time.Date(2021, 6, 11, 8, 0, 0, 0, events.Zone).Unix()
	span := time.Date(2025, 6, 30, 23, 0, 0, 0, events.Zone).Unix() - base
	fill := `INSERT INTO %s (id, type, v, agency, occurred_at, supersedes, retraction, data, seq, received_at)
SELECT concat('e', toString(number)), ['workfile.processed', 'service.published', 'report.submitted', 'inspection.completed', 'enterprise.registered', 'auth.recorded'][intHash32(number) %% 6 + 1],
       1, concat('bg-u', toString(intHash32(number + 1) %% 250)), toDateTime(%d + intHash64(number) %% %d), '', 0, '{}', number + 1, now()
FROM system.numbers LIMIT %d`
	t0 := time.Now()
	if err := db.Exec(ctx, fmt.Sprintf(fill, db.Table("events"), base, span, n)); err != nil {
		b.Fatal(err)
	}
	if err := db.RefillLasts(ctx, uint64(n)); err != nil {
		b.Fatal(err)
	}
	var lasts uint64
	if err := db.QueryRow(ctx, "SELECT count() FROM "+db.Table("event_lasts")).Scan(&lasts); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d events, %d rows of cds.event_lasts, filled in %v", n, lasts, time.Since(t0).Round(time.Millisecond))

	// A batch of the last day above the commit: its raw rows and its rows
	// of the copy, as the projector writes them before its commit marker.
	var above EventColumns
	above.Grow(1000)
	for i := range 1000 {
		at := time.Date(2025, 6, 30, 8, 0, i, 0, events.Zone)
		above.ID, above.Type, above.Agency = append(above.ID, fmt.Sprintf("x%d", i)), append(above.Type, "workfile.processed"), append(above.Agency, fmt.Sprintf("bg-u%d", i%250))
		above.Supersedes, above.Data = append(above.Supersedes, ""), append(above.Data, "{}")
		above.V, above.Retraction = append(above.V, 1), append(above.Retraction, 0)
		above.OccurredAt, above.ReceivedAt, above.Seq = append(above.OccurredAt, at), append(above.ReceivedAt, at), append(above.Seq, uint64(n+1+i))
	}

	const day = "2025-06-30"
	seq := uint64(n)
	oldScan := fmt.Sprintf("SELECT agency, type, max(occurred_at) FROM %s WHERE toDate(occurred_at) <= toDate(?) GROUP BY agency, type", db.Table("events"))
	incremental := fmt.Sprintf("SELECT agency, type, max(occurred_at) FROM %s WHERE seq > ? AND seq <= ? AND toDate(occurred_at) <= toDate(?) GROUP BY agency, type", db.Table("events"))
	ways := []struct {
		name string
		read func(ctx context.Context) (int, error)
	}{
		{"old_scan", func(ctx context.Context) (int, error) {
			last := map[string]map[string]time.Time{}
			err := db.readLastEvents(ctx, oldScan, last, day)
			return len(last), err
		}},
		{"scan_at_commit", func(ctx context.Context) (int, error) {
			last, err := db.LastEvents(ctx, day, seq)
			return len(last), err
		}},
		{"incremental", func(ctx context.Context) (int, error) {
			// The other way weighed: only the rows of the last 1,000
			// sequences, to merge into the answer of the commit before.
			last := map[string]map[string]time.Time{}
			err := db.readLastEvents(ctx, incremental, last, seq-1000, seq, day)
			return 250, err
		}},
		{"copy", func(ctx context.Context) (int, error) {
			last, _, err := db.LastEventsAt(ctx, day, seq)
			return len(last), err
		}},
		{"copy_batch_above", func(ctx context.Context) (int, error) {
			last, patched, err := db.LastEventsAt(ctx, day, seq)
			if err == nil && patched != 0 {
				err = fmt.Errorf("%d keys read from cds.events", patched)
			}
			return len(last), err
		}},
		{"copy_batch_merged", func(ctx context.Context) (int, error) {
			last, patched, err := db.LastEventsAt(ctx, day, seq)
			if err == nil && patched == 0 {
				err = fmt.Errorf("no key read from cds.events")
			}
			return len(last), err
		}},
	}
	took := make([]time.Duration, len(ways))
	rows := make([]uint64, len(ways))
	for b.Loop() {
		for i, w := range ways {
			if w.name == "copy_batch_above" {
				var l LastsColumns
				l.Add(&above)
				l.AddMarker(uint64(n + 1000))
				if err := db.InsertLasts(ctx, "", &l); err != nil {
					b.Fatal(err)
				}
			}
			if w.name == "copy_batch_merged" {
				if err := db.Exec(ctx, "OPTIMIZE TABLE "+db.Table("event_lasts")+" FINAL"); err != nil {
					b.Fatal(err)
				}
			}
			var read atomic.Uint64
			qctx := clickhouse.Context(ctx, clickhouse.WithProgress(func(p *clickhouse.Progress) { read.Add(p.Rows) }))
			start := time.Now()
			agencies, err := w.read(qctx)
			took[i] += time.Since(start)
			rows[i] += read.Load()
			if err != nil || agencies != 250 {
				b.Fatalf("%s: %d agencies, %v", w.name, agencies, err)
			}
		}
		if err := db.RefillLasts(ctx, seq); err != nil { // the recovery's
			b.Fatal(err)
		}
	}
	for i, w := range ways {
		b.ReportMetric(float64(took[i].Microseconds())/1000/float64(b.N), "ms_"+w.name+"/op")
		b.ReportMetric(float64(rows[i])/float64(b.N), "rows_"+w.name+"/op")
	}
}

// BenchmarkCommitLasts times what cds.event_lasts adds to a batch's writes:
// the INSERT of the rows of 2,000 events of 30 agencies and 4 types,
// uniform from 2021-06-11 to 2025-06-30 (as cds bench's: nearly a row per
// event and grain), against the INSERT of the same raw rows into
// cds.events, in one run on the same server.
func BenchmarkCommitLasts(b *testing.B) {
	db := migratedDB(b, "cds_commit_lasts")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rng := rand.New(rand.NewPCG(19, 5))
	types := []string{"workfile.processed", "service.published", "report.submitted", "inspection.completed"}
	var seq uint64
	var tEvents, tLasts time.Duration
	var rows int
	for b.Loop() {
		var raw EventColumns
		raw.Grow(2000)
		for range 2000 {
			seq++
			at := time.Date(2021, 6, 11, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(1480*24*3600)) * time.Second)
			raw.ID, raw.Type, raw.Agency = append(raw.ID, fmt.Sprintf("e%d", seq)), append(raw.Type, types[rng.IntN(len(types))]), append(raw.Agency, fmt.Sprintf("bg-u%d", rng.IntN(30)))
			raw.Supersedes, raw.Data = append(raw.Supersedes, ""), append(raw.Data, fmt.Sprintf(`{"workfile_id":"W%d","online":true}`, seq))
			raw.V, raw.Retraction = append(raw.V, 1), append(raw.Retraction, 0)
			raw.OccurredAt, raw.ReceivedAt, raw.Seq = append(raw.OccurredAt, at), append(raw.ReceivedAt, at), append(raw.Seq, seq)
		}
		t0 := time.Now()
		if err := db.InsertEvents(ctx, "", &raw); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		var l LastsColumns
		l.Add(&raw)
		l.AddMarker(seq)
		if err := db.InsertLasts(ctx, "", &l); err != nil {
			b.Fatal(err)
		}
		tEvents, tLasts = tEvents+t1.Sub(t0), tLasts+time.Since(t1)
		rows += l.Len()
	}
	b.ReportMetric(float64(tEvents.Microseconds())/1000/float64(b.N), "ms_events/op")
	b.ReportMetric(float64(tLasts.Microseconds())/1000/float64(b.N), "ms_lasts/op")
	b.ReportMetric(float64(rows)/float64(b.N), "lasts_rows/op")
}
