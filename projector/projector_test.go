package projector

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/deadletter"
	"github.com/bacgiang/cds/internal/eventtest"
	"github.com/bacgiang/cds/internal/fold"
	"github.com/bacgiang/cds/internal/natsserver"
	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/projector/projtest"
)

func TestRestartKeepsDuplicatesOut(t *testing.T) {
	h := newHarness(t)
	for i := 0; i < 50; i++ {
		h.publish(t, subj, eventtest.Workfile(fmt.Sprintf("e%d", i), "bg-vietyen", "2025-03-01T10:00:00+07:00", fmt.Sprintf("W%d", i), i%5 != 0), true)
	}
	_, stop := h.run(t, 50)
	stop()
	// After the restart the projector knows the ids only from ClickHouse.
	seq := h.publish(t, subj, eventtest.Workfile("e3", "bg-vietyen", "2025-03-01T10:00:00+07:00", "W3", true), false)
	seq = max(seq, h.publish(t, subj, eventtest.Workfile("e50", "bg-vietyen", "2025-03-02T10:00:00+07:00", "W50", true), true))
	_, stop = h.run(t, seq)
	defer stop()
	if num, den, raw := h.hscv(t); num != 41 || den != 51 || raw != 51 {
		t.Fatalf("HSCV %v/%v with %v raw rows, want 41/51 and 51", num, den, raw)
	}
}

// TestDuplicateBeyondWindow republishes an id once JetStream's duplicate
// window has forgotten it, with and without Nats-Msg-Id, to a running
// projector and after a restart: it is never counted twice.
func TestDuplicateBeyondWindow(t *testing.T) {
	h := newHarnessOpts(t, harnessOpts{streams: natsserver.StreamConfig{DuplicateWindow: 100 * time.Millisecond}})
	body := eventtest.Workfile("late-1", "bg-vietyen", "2025-03-01T10:00:00+07:00", "W1", true)
	first := h.publish(t, subj, body, true)
	r := h.start(t, Config{})
	waitFor(t, 30*time.Second, "first fold", func() bool { return r.p.Watermark() >= first })

	// Publish the same id with Nats-Msg-Id until JetStream no longer calls it
	// a duplicate: the window has passed ("days later").
	var again uint64
	waitFor(t, 30*time.Second, "the duplicate window to pass", func() bool {
		m := nats.NewMsg(subj)
		m.Data = []byte(body)
		m.Header.Set(jetstream.MsgIDHeader, "late-1")
		ack, err := h.js.PublishMsg(context.Background(), m)
		if err != nil {
			t.Fatal(err)
		}
		again = ack.Sequence
		return !ack.Duplicate
	})
	noID := h.publish(t, subj, body, false)
	waitFor(t, 30*time.Second, "the republished id", func() bool { return r.p.Watermark() >= noID })
	if num, den, raw := h.hscv(t); num != 1 || den != 1 || raw != 1 {
		t.Fatalf("after republishing at seq %d and %d: HSCV %v/%v with %v raw rows, want 1/1 and 1", again, noID, num, den, raw)
	}
	if got := metric(t, r.reg, "cds_projector_events_total", "outcome", "duplicate"); got != 2 {
		t.Errorf("duplicates counted: %v, want 2", got)
	}
	r.stop()

	// After a restart the projector knows the id only from cds.events.
	last := h.publish(t, subj, body, false)
	_, stop := h.run(t, last)
	defer stop()
	if num, den, raw := h.hscv(t); num != 1 || den != 1 || raw != 1 {
		t.Fatalf("after a restart: HSCV %v/%v with %v raw rows, want 1/1 and 1", num, den, raw)
	}
}

// TestCorrectionBeforeTarget: a correction committed before the event it
// corrects arrives (here across a restart, so the projector knows the
// correction only from cds.events) is held: the late target never counts.
// A retraction of a not yet arrived event likewise.
func TestCorrectionBeforeTarget(t *testing.T) {
	h := newHarness(t)
	at := "2025-03-01T10:00:00+07:00"
	corr := `{"id":"c1","type":"workfile.processed","v":1,"agency":"bg-vietyen","occurred_at":"` + at + `","supersedes":"t1","data":{"workfile_id":"W1","online":true}}`
	retr := `{"id":"r2","type":"workfile.processed","v":1,"agency":"bg-vietyen","occurred_at":"` + at + `","supersedes":"t2","data":null}`
	h.publish(t, subj, corr, true)
	seq := h.publish(t, subj, retr, true)
	_, stop := h.run(t, seq)
	stop()
	h.publish(t, subj, eventtest.Workfile("t1", "bg-vietyen", at, "W1", false), true)
	seq = h.publish(t, subj, eventtest.Workfile("t2", "bg-vietyen", at, "W2", true), true)
	_, stop = h.run(t, seq)
	defer stop()
	// Only c1 counts: online 1 of 1. t1 and t2 are stored (their ids are
	// known for ever) but superseded.
	if num, den, raw := h.hscv(t); num != 1 || den != 1 || raw != 4 {
		t.Fatalf("HSCV %v/%v with %v raw rows, want 1/1 and 4", num, den, raw)
	}
}

// TestRecoveryDeletesUnfinishedBatch plays the crash between the raw insert
// and the commit: rows above the watermark exist, cells do not.
func TestRecoveryDeletesUnfinishedBatch(t *testing.T) {
	h := newHarness(t)
	var seq uint64
	for i := 0; i < 10; i++ {
		seq = h.publish(t, subj, eventtest.Workfile(fmt.Sprintf("e%d", i), "bg-vietyen", "2025-03-01T10:00:00+07:00", fmt.Sprintf("W%d", i), true), true)
	}
	_, stop := h.run(t, 5)
	stop()
	wm := h.count(t, "SELECT toFloat64(sum(n)) FROM cds.rollup WHERE indicator='#watermark'")
	// Forge what a killed projector leaves behind: raw rows of the next
	// messages without their cells and watermark.
	forgeRaw(t, h, uint64(wm)+1, seq)
	_, stop = h.run(t, seq)
	defer stop()
	if num, den, raw := h.hscv(t); num != 10 || den != 10 || raw != 10 {
		t.Fatalf("HSCV %v/%v with %v raw rows, want 10/10 and 10", num, den, raw)
	}
}

// forgeRaw inserts the raw rows of events e<seq-1> for seq in [from, to]
// as the projector would, without cells or marker.
func forgeRaw(tb testing.TB, h *harness, from, to uint64) {
	tb.Helper()
	ctx := context.Background()
	b, err := h.db.PrepareBatch(ctx, "INSERT INTO cds.events (id, type, v, agency, occurred_at, supersedes, retraction, data, seq, received_at)")
	if err != nil {
		tb.Fatal(err)
	}
	for s := from; s <= to; s++ {
		id := fmt.Sprintf("e%d", s-1)
		if err := b.Append(id, "workfile.processed", uint8(1), "bg-vietyen", time.Date(2025, 3, 1, 3, 0, 0, 0, time.UTC), "", uint8(0), `{"workfile_id":"W`+id[1:]+`","online":true}`, s, time.Now()); err != nil {
			tb.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		tb.Fatal(err)
	}
}

// forgeIndex writes the fold-index rows that the projector writes for the
// events forgeRaw forges, and returns their number and seq fingerprint.
func forgeIndex(tb testing.TB, h *harness, from, to uint64) (rows, sum uint64) {
	tb.Helper()
	txn := fold.New().Begin()
	for s := from; s <= to; s++ {
		i := s - 1
		e, err := events.Decode([]byte(eventtest.Workfile(fmt.Sprintf("e%d", i), "bg-vietyen", "2025-03-01T10:00:00+07:00", fmt.Sprintf("W%d", i), true)))
		if err != nil {
			tb.Fatal(err)
		}
		txn.ApplyAt(e, s)
	}
	c := newIndexColumns(txn.Index())
	p, err := New(Config{}, Deps{JetStream: h.js, DB: h.db, Units: h.units})
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.insertIndex(context.Background(), c, to); err != nil {
		tb.Fatal(err)
	}
	return uint64(c.rows()), c.sum
}

// appendCells appends the rows of c to an INSERT into cds.rollup.
func appendCells(tb testing.TB, b driver.Batch, c cellColumns) {
	tb.Helper()
	for i, col := range []any{c.Indicator, c.Unit, c.Period, c.Dim, c.Day, c.Num, c.Den, c.N} {
		if err := b.Column(i).Append(col); err != nil {
			tb.Fatal(err)
		}
	}
}

// publishWorkfiles publishes the work dossiers e<from>…e<to-1> (with
// Nats-Msg-Id) and returns the last stream sequence.
func (h *harness) publishWorkfiles(tb testing.TB, from, to int) uint64 {
	var seq uint64
	for i := from; i < to; i++ {
		seq = h.publish(tb, subj, eventtest.Workfile(fmt.Sprintf("e%d", i), "bg-vietyen", "2025-03-01T10:00:00+07:00", fmt.Sprintf("W%d", i), true), true)
	}
	return seq
}

// TestRecoveryWaitsForRunningInsert plays a projector killed while its
// INSERT is still running in ClickHouse: the next projector must not read
// the watermark before that insert has landed, or it would fold the batch
// again on top of it.
func TestRecoveryWaitsForRunningInsert(t *testing.T) {
	h := newHarness(t)
	h.publishWorkfiles(t, 0, 2)
	dead, stop := h.run(t, 2)
	stop()
	seq := h.publishWorkfiles(t, 2, 10)
	w := uint64(h.count(t, "SELECT toFloat64(sum(n)) FROM cds.rollup WHERE indicator='#watermark'"))
	// The "dead" projector's raw rows of the next two events, and its commit,
	// prepared (so registered in system.processes) but not yet sent.
	ctx := clickhouse.Context(context.Background(), clickhouse.WithQueryID(insertPrefix("cds")+"dead/1/4/rollup"))
	ghost, err := h.db.PrepareBatch(ctx, "INSERT INTO cds.rollup (indicator, unit, period, dim, day, num, den, n)")
	if err != nil {
		t.Fatal(err)
	}
	forgeRaw(t, h, w+1, w+2)
	idxRows, idxSum := forgeIndex(t, h, w+1, w+2)
	r := h.start(t, Config{})
	waitFor(t, 10*time.Second, "a recovery to start", func() bool { return metric(t, r.reg, "cds_projector_recoveries_total") >= 1 })
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(300 * time.Millisecond); time.Now().Before(deadline); <-tick.C {
		if got := r.p.Watermark(); got != 0 {
			t.Fatalf("watermark %d while an insert of a dead projector still runs", got)
		}
	}
	// Its cells and the markers of a batch of 2 raw rows (seq w+1 and w+2).
	c := newCellColumns(1 + markerRows)
	c.add(fold.Row{Cell: fold.Cell{Indicator: "HSCV", Unit: "bg-vietyen", Period: 2025, Day: fold.DayNumber(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC))}, Amount: events.Amount{Num: 2, Den: 2, N: 2}})
	// The dead projector held the lease before r: its token is history.
	hw, err := r.p.hashAt(context.Background(), w)
	if err != nil {
		t.Fatal(err)
	}
	hn, err := r.p.hashAt(context.Background(), w+2)
	if err != nil {
		t.Fatal(err)
	}
	c.marker("CDS_EVENTS", dead.lease.val.Token, position{hash: hw, hashSeq: w}, position{seq: 2, rows: 2, sum: 2*w + 3, idxRows: idxRows, idxSum: idxSum, indexed: 2, hash: hn, hashSeq: w + 2})
	appendCells(t, ghost, c)
	if err := ghost.Send(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the fold", func() bool { return r.p.Watermark() >= seq })
	if num, den, raw := h.hscv(t); num != 10 || den != 10 || raw != 10 {
		t.Fatalf("HSCV %v/%v with %v raw rows, want 10/10 and 10", num, den, raw)
	}
	if got := metric(t, r.reg, "cds_projector_repairs_total"); got != 0 {
		t.Errorf("%v repairs: the dead projector's commit should have been kept", got)
	}
}

// TestRepairBatchWithoutIndex plays a batch committed by a cds older than
// cds.fold_index (after a downgrade): raw rows and cells with an old-style
// marker, no index rows. The projector cannot trust its index: it refolds.
func TestRepairBatchWithoutIndex(t *testing.T) {
	h := newHarness(t)
	_, stop := h.run(t, h.publishWorkfiles(t, 0, 8))
	stop()
	seq := h.publishWorkfiles(t, 8, 10)
	w := uint64(h.count(t, "SELECT toFloat64(sum(n)) FROM cds.rollup WHERE indicator='#watermark'"))
	forgeRaw(t, h, w+1, w+2) // the older cds folds seq 9 and 10
	old, err := h.db.PrepareBatch(context.Background(), "INSERT INTO cds.rollup (indicator, unit, period, dim, day, num, den, n)")
	if err != nil {
		t.Fatal(err)
	}
	// Its cells and an old-style marker: the row of unit CDS_EVENTS only.
	c := newCellColumns(2)
	c.add(fold.Row{Cell: fold.Cell{Indicator: "HSCV", Unit: "bg-vietyen", Period: 2025, Day: fold.DayNumber(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC))}, Amount: events.Amount{Num: 2, Den: 2, N: 2}})
	c.add(fold.Row{Cell: fold.Cell{Indicator: chdb.MarkerIndicator, Unit: "CDS_EVENTS"}, Amount: events.Amount{N: 2, Num: 2, Den: float64(2*w + 3)}})
	appendCells(t, old, c)
	if err := old.Send(); err != nil {
		t.Fatal(err)
	}
	// A duplicate of a forged event: the index does not know it.
	last := h.publish(t, subj, eventtest.Workfile("e8", "bg-vietyen", "2025-03-01T10:00:00+07:00", "W8", true), false)
	r := h.start(t, Config{})
	waitFor(t, 30*time.Second, "the refold", func() bool { return r.p.Watermark() >= max(seq, last) })
	if got := metric(t, r.reg, "cds_projector_repairs_total", "reason", "fold_index_missing"); got != 1 {
		t.Errorf("fold_index_missing repairs: %v, want 1", got)
	}
	if num, den, raw := h.hscv(t); num != 10 || den != 10 || raw != 10 {
		t.Fatalf("HSCV %v/%v with %v raw rows, want 10/10 and 10", num, den, raw)
	}
}

// TestRepairLostRawRows plays a power cut that lost a part of cds.events
// below the watermark: the fingerprint in the commit markers no longer
// matches, and the projector refolds from the log.
func TestRepairLostRawRows(t *testing.T) {
	h := newHarness(t)
	load := projtest.Generate(1, 3000, registry.Sample().Codes())
	last, err := projtest.Publish(context.Background(), h.js, load.Msgs)
	if err != nil {
		t.Fatal(err)
	}
	_, stop := h.run(t, last)
	stop()
	if err := h.db.Exec(context.Background(), "ALTER TABLE cds.events DELETE WHERE seq % 7 = 3"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the forged loss", func() bool {
		return h.count(t, "SELECT toFloat64(count()) FROM system.mutations WHERE database='cds' AND is_done = 0") == 0
	})
	r := h.start(t, Config{})
	waitFor(t, 30*time.Second, "the refold", func() bool { return r.p.Watermark() >= last })
	if got := metric(t, r.reg, "cds_projector_repairs_total", "reason", "raw_rows_mismatch"); got != 1 {
		t.Errorf("repairs: %v, want 1", got)
	}
	h.check(t, load)
}

// TestDivergedLogStops: ClickHouse has folded a log that is gone (the
// JetStream store lost, a fresh NATS, a wrong --data): the stream is empty,
// shorter, or as long but with other messages. The projector stops with
// ErrDiverged and the metric, and deletes nothing; the operator's rebuild
// from the log then folds the new log exactly.
func TestDivergedLogStops(t *testing.T) {
	for _, tc := range []struct {
		name string
		msgs int // of the new log
	}{
		{"empty", 0},
		{"shorter", 500},
		{"as long, other messages", 2600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			units := registry.Sample().Codes()
			old := projtest.Generate(2, 2000, units)
			last, err := projtest.Publish(context.Background(), h.js, old.Msgs)
			if err != nil {
				t.Fatal(err)
			}
			_, stop := h.run(t, last)
			stop()
			before := h.projections(t)

			// A new log in front of the same ClickHouse.
			ctx := context.Background()
			if err := h.js.DeleteStream(ctx, natsserver.EventsStream); err != nil {
				t.Fatal(err)
			}
			if err := natsserver.EnsureStreams(ctx, h.js, natsserver.StreamConfig{}); err != nil {
				t.Fatal(err)
			}
			load := projtest.Generate(3, tc.msgs, units)
			if tc.msgs > 0 {
				if _, err := projtest.Publish(ctx, h.js, load.Msgs); err != nil {
					t.Fatal(err)
				}
			}
			reg := prometheus.NewRegistry()
			p, err := New(Config{BatchWait: 20 * time.Millisecond}, Deps{JetStream: h.js, DB: h.db, Units: h.units, Registerer: reg})
			if err != nil {
				t.Fatal(err)
			}
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			err = p.Run(rctx)
			if !errors.Is(err, ErrDiverged) {
				t.Fatalf("Run: %v, want ErrDiverged", err)
			}
			t.Logf("Run: %v", err)
			if got := metric(t, reg, "cds_projector_log_diverged"); got != 1 {
				t.Errorf("cds_projector_log_diverged %v, want 1", got)
			}
			if after := h.projections(t); after != before {
				t.Fatalf("projections changed although the log diverged: %v, then %v", before, after)
			}

			// The operator accepts the new log: cds rebuild.
			if _, err := p.Rewind(ctx, 1); err != nil {
				t.Fatal(err)
			}
			if tc.msgs > 0 {
				_, stop := h.run(t, h.lastSeq(t))
				stop()
			}
			h.check(t, load)
		})
	}
}

// projections sums up what ClickHouse holds: raw rows, index rows, cells
// and the watermark.
func (h *harness) projections(tb testing.TB) [4]float64 {
	tb.Helper()
	return [4]float64{
		h.count(tb, "SELECT toFloat64(count()) FROM cds.events"),
		h.count(tb, "SELECT toFloat64(count()) FROM cds.fold_index"),
		h.count(tb, "SELECT sum(num) + sum(den) FROM cds.cells"),
		h.count(tb, "SELECT toFloat64(sum(n)) FROM cds.rollup WHERE indicator='#watermark'"),
	}
}

// TestNoMarkerClearsOrphans: rows without any commit marker (an interrupted
// rebuild) are emptied before folding.
func TestNoMarkerClearsOrphans(t *testing.T) {
	h := newHarness(t)
	var seq uint64
	for i := 0; i < 5; i++ {
		seq = h.publish(t, subj, eventtest.Workfile(fmt.Sprintf("e%d", i), "bg-vietyen", "2025-03-01T10:00:00+07:00", fmt.Sprintf("W%d", i), true), true)
	}
	forgeRaw(t, h, 1, 3)
	b, err := h.db.PrepareBatch(context.Background(), "INSERT INTO cds.rollup (indicator, unit, period, dim, day, num, den, n)")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append("HSCV", "bg-vietyen", uint16(2025), "", time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), 3.0, 3.0, int64(3)); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	_, stop := h.run(t, seq)
	defer stop()
	if num, den, raw := h.hscv(t); num != 5 || den != 5 || raw != 5 {
		t.Fatalf("HSCV %v/%v with %v raw rows, want 5/5 and 5", num, den, raw)
	}
}

func TestDeadLetterReasons(t *testing.T) {
	h := newHarnessOpts(t, harnessOpts{streams: natsserver.StreamConfig{DuplicateWindow: 100 * time.Millisecond}})
	ok := eventtest.Workfile("ok", "bg-vietyen", "2025-03-01T10:00:00+07:00", "W", true)
	future := time.Now().Add(72 * time.Hour).Format(time.RFC3339)
	tests := []struct {
		subject, body, reason, field string
	}{
		{subj, `{"id":`, "malformed", ""},
		{subj, strings.Replace(ok, "workfile.processed", "workfile.lost", 1), "unknown_type", "type"},
		{subj, strings.Replace(ok, `"v":1`, `"v":2`, 1), "unknown_version", "v"},
		{subj, strings.Replace(ok, `"online":true`, `"online":"yes"`, 1), "malformed", "data.online"},
		{subj, strings.Replace(ok, `,"online":true`, ``, 1), "missing_field", "data.online"},
		{subj, strings.Replace(ok, `"online":true`, `"online":true,"x":1`, 1), "unknown_field", "data.x"},
		{subj, strings.Replace(ok, `"id":"ok"`, `"id":"not ok"`, 1), "invalid_field", "id"},
		{"cds.events.bg-hiephoa.workfile.processed", ok, "subject_mismatch", "agency"},
		{"cds.events.nobody.workfile.processed", strings.Replace(ok, "bg-vietyen", "nobody", 1), "unknown_agency", "agency"},
		{subj, strings.Replace(ok, "2025-03-01T10:00:00+07:00", future, 1), "future", "occurred_at"},
	}
	ctx := context.Background()
	var seq uint64
	for i, tt := range tests {
		m := nats.NewMsg(tt.subject)
		m.Data = []byte(tt.body)
		m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("dl-%d", i))
		m.Header.Set("X-Agency-Trace", "t")
		ack, err := h.js.PublishMsg(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		seq = ack.Sequence
	}
	_, stop := h.run(t, seq)
	stop()
	dlq, err := deadletter.Open(ctx, h.js)
	if err != nil {
		t.Fatal(err)
	}
	letters, err := dlq.List(ctx, deadletter.Selection{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(letters) != len(tests) {
		t.Fatalf("%d dead letters, want %d", len(letters), len(tests))
	}
	for i, tt := range tests {
		l := letters[i]
		if l.Reason != tt.reason || l.Field != tt.field || string(l.Data) != tt.body || l.Subject != tt.subject {
			t.Errorf("dead letter %d: reason %q field %q subject %s, want %q %q %s", i+1, l.Reason, l.Field, l.Subject, tt.reason, tt.field, tt.subject)
		}
		if l.Error == "" || l.StreamSeq != uint64(i+1) || l.Stream != natsserver.EventsStream || l.Received.IsZero() {
			t.Errorf("dead letter %d lacks error, stream, seq or time: %+v", i+1, l)
		}
		orig := l.OriginalHeader()
		if got := l.Header.Get("Cds-Orig-Nats-Msg-Id"); got != fmt.Sprintf("dl-%d", i) || orig.Get(jetstream.MsgIDHeader) != got || orig.Get("X-Agency-Trace") != "t" {
			t.Errorf("dead letter %d: original Nats-Msg-Id %q, original headers restored %v", i+1, got, orig)
		}
	}
	if _, _, raw := h.hscv(t); raw != 0 {
		t.Errorf("%v invalid events reached cds.events", raw)
	}

	// Refold everything, as a rebuild does, once CDS_DLQ's duplicate window
	// has forgotten the dead letters (it forgets in storage order, so once
	// a probe stored after them is forgotten, so are they): nothing is
	// dead-lettered twice.
	probe := nats.NewMsg("cds.dlq.probe")
	probe.Header.Set(jetstream.MsgIDHeader, "probe")
	if _, err := h.js.PublishMsg(ctx, probe); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "CDS_DLQ's duplicate window to pass", func() bool {
		ack, err := h.js.PublishMsg(ctx, probe)
		return err == nil && !ack.Duplicate
	})
	p, err := New(Config{}, Deps{JetStream: h.js, DB: h.db, Units: h.units})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Rewind(ctx, 1); err != nil {
		t.Fatal(err)
	}
	_, stop = h.run(t, seq)
	defer stop()
	again, err := dlq.List(ctx, deadletter.Selection{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != len(tests) {
		t.Errorf("after a refold %d dead letters, want %d", len(again), len(tests))
	}
}

// TestShutdownFinishesBatch cancels Run while a batch is being filled: the
// batch in hand is written and acked, nothing is left above the watermark.
func TestShutdownFinishesBatch(t *testing.T) {
	h := newHarness(t)
	load := projtest.Generate(4, 5000, registry.Sample().Codes())
	last, err := projtest.Publish(context.Background(), h.js, load.Msgs)
	if err != nil {
		t.Fatal(err)
	}
	r := h.start(t, Config{BatchMax: 100000, BatchWait: time.Minute})
	ctx := context.Background()
	waitFor(t, 30*time.Second, "a batch in hand", func() bool {
		c, err := h.js.Consumer(ctx, natsserver.EventsStream, "cds-projector")
		return err == nil && c.CachedInfo().NumAckPending >= int(last)
	})
	r.stop()
	w := r.p.Watermark()
	if w == 0 {
		t.Fatal("nothing written at shutdown")
	}
	c, err := h.js.Consumer(ctx, natsserver.EventsStream, "cds-projector")
	if err != nil {
		t.Fatal(err)
	}
	if ack := c.CachedInfo().AckFloor.Stream; ack != w {
		t.Errorf("acked up to %d, want the watermark %d", ack, w)
	}
	if n := h.count(t, "SELECT toFloat64(count()) FROM cds.events WHERE seq > ?", w); n != 0 {
		t.Errorf("%v raw rows above the watermark %d after shutdown", n, w)
	}
	t.Logf("shutdown wrote the batch in hand up to seq %d of %d", w, last)
	_, stop := h.run(t, last)
	defer stop()
	h.check(t, load)
}

func TestRewindFromSeq(t *testing.T) {
	// Small chunks: the index is read in many ranges, the cells sent in
	// many inserts.
	defer func(n int) { rewindChunk = n }(rewindChunk)
	rewindChunk = 500
	h := newHarness(t)
	load := projtest.Generate(5, 4000, registry.Sample().Codes())
	last, err := projtest.Publish(context.Background(), h.js, load.Msgs)
	if err != nil {
		t.Fatal(err)
	}
	_, stop := h.run(t, last)
	stop()
	ctx := context.Background()
	live, err := projtest.Take(ctx, h.db)
	if err != nil {
		t.Fatal(err)
	}
	for _, from := range []uint64{last / 2, 1, last, last + 10} {
		p, err := New(Config{}, Deps{JetStream: h.js, DB: h.db, Units: h.units})
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.Rewind(ctx, from)
		if err != nil {
			t.Fatal(err)
		}
		if want := min(max(from, 1), last+1); got != want {
			t.Errorf("Rewind(%d) continues from %d, want %d", from, got, want)
		}
		if w := p.Watermark(); w != got-1 {
			t.Errorf("Rewind(%d): watermark %d, want %d", from, w, got-1)
		}
		_, stop := h.run(t, last)
		stop()
		again, err := projtest.Take(ctx, h.db)
		if err != nil {
			t.Fatal(err)
		}
		if d := live.Diff(again); len(d) > 0 {
			t.Fatalf("rewound to %d, refolded projections differ from live:\n%s", from, strings.Join(d, "\n"))
		}
	}
	h.check(t, load)
}

// TestRollupHasNoMaterializedView guards the commit point: an insert into
// cds.rollup is atomic only while nothing else is written with it that the
// recovery trusts. The only views reading it feed its copies, cds.rollup_sums
// and cds.rollup_marks, which the scores trust only while their markers agree
// with cds.rollup's (docs/design.md, "Score snapshots"; internal/chdb/copies.go)
// and the recovery refills when they do not.
func TestRollupHasNoMaterializedView(t *testing.T) {
	h := newHarness(t)
	var deps []string
	err := h.db.QueryRow(context.Background(), "SELECT dependencies_table FROM system.tables WHERE database = 'cds' AND name = 'rollup'").Scan(&deps)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(deps)
	if want := []string{"rollup_marks_view", "rollup_sums_view"}; !slices.Equal(deps, want) {
		t.Fatalf("materialized views read cds.rollup: %v, want only %v: the projector's commit would no longer be one atomic insert", deps, want)
	}
	var keys string
	if err := h.db.QueryRow(context.Background(), "SELECT partition_key FROM system.tables WHERE database = 'cds' AND name = 'rollup'").Scan(&keys); err != nil {
		t.Fatal(err)
	}
	if keys != "" {
		t.Fatalf("cds.rollup is partitioned by %s: a commit could span parts", keys)
	}
}

// TestWaitsForTheStream: a projector started before its stream exists (a
// NATS cluster still placing it) retries instead of exiting, and folds the
// stream once it is there.
func TestWaitsForTheStream(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if err := h.js.DeleteStream(ctx, natsserver.EventsStream); err != nil {
		t.Fatal(err)
	}
	r := h.start(t, Config{})
	waitFor(t, 30*time.Second, "failed attempts without the stream", func() bool {
		return metric(t, r.reg, "cds_projector_failures_total", "stage", "recover") >= 2
	})
	if err := natsserver.EnsureStreams(ctx, h.js, natsserver.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	load := projtest.Generate(9, 2000, registry.Sample().Codes())
	last, err := projtest.Publish(ctx, h.js, load.Msgs)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "the stream folded", func() bool { return r.p.Watermark() == last })
	h.check(t, load)
}

// TestRecoveryRefillsCopies: copies of cds.rollup that lost a part (or
// were created empty by an upgrade) are refilled by the next recovery, and
// agree with cds.rollup cell for cell.
func TestRecoveryRefillsCopies(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	load := projtest.Generate(2, 2000, registry.Sample().Codes())
	last, err := projtest.Publish(ctx, h.js, load.Msgs)
	if err != nil {
		t.Fatal(err)
	}
	_, stop := h.run(t, last)
	stop()
	if agree, err := h.db.CopiesAgree(ctx); err != nil || !agree {
		t.Fatalf("copies after the drain: agree %v (%v), want true", agree, err)
	}
	if err := h.db.Exec(ctx, "ALTER TABLE cds.rollup_sums DELETE WHERE grain = 3"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the forged loss", func() bool {
		return h.count(t, "SELECT toFloat64(count()) FROM system.mutations WHERE database='cds' AND is_done = 0") == 0
	})
	if agree, err := h.db.CopiesAgree(ctx); err != nil || agree {
		t.Fatalf("copies after losing the days: agree %v (%v), want false", agree, err)
	}
	_, stop = h.run(t, last)
	stop()
	if agree, err := h.db.CopiesAgree(ctx); err != nil || !agree {
		t.Fatalf("copies after the recovery: agree %v (%v), want true", agree, err)
	}
	// The copy of the commit markers, cds.rollup_marks, is compared and
	// refilled with them.
	if err := h.db.Exec(ctx, "TRUNCATE TABLE cds.rollup_marks"); err != nil {
		t.Fatal(err)
	}
	if agree, err := h.db.CopiesAgree(ctx); err != nil || agree {
		t.Fatalf("copies after losing the markers' copy: agree %v (%v), want false", agree, err)
	}
	_, stop = h.run(t, last)
	stop()
	if agree, err := h.db.CopiesAgree(ctx); err != nil || !agree {
		t.Fatalf("copies after the second recovery: agree %v (%v), want true", agree, err)
	}
	sums := "SELECT round(toFloat64(sum(num) * 3 + sum(den) * 7 + sum(n)), 3) FROM cds.%s WHERE indicator != '#watermark' AND %s"
	want := h.count(t, fmt.Sprintf(sums, "rollup", "1"))
	for _, grain := range []string{"grain = 1", "grain = 2", "grain = 3"} {
		if got := h.count(t, fmt.Sprintf(sums, "rollup_sums", grain)); got != want {
			t.Errorf("cells of rollup_sums, %s, sum to %v, cds.rollup's to %v", grain, got, want)
		}
	}
	h.check(t, load)
}
