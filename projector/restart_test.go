package projector

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bacgiang/cds/internal/natsserver"
	"github.com/bacgiang/cds/internal/natsserver/natstest"
	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/projector/projtest"
)

// loadInBackground publishes load while the test goes on; the returned
// func waits for the last acknowledged sequence.
func loadInBackground(tb testing.TB, h *harness, load *projtest.Load) func() uint64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	type result struct {
		last uint64
		err  error
	}
	// The agencies' own connection, as in production.
	js := natstest.JetStream(tb, "nats://"+h.natsAddr, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	done := make(chan result, 1)
	go func() {
		last, err := projtest.Publish(ctx, js, load.Msgs)
		done <- result{last, err}
	}()
	tb.Cleanup(cancel)
	return func() uint64 {
		r := <-done
		if r.err != nil {
			tb.Fatalf("publish: %v", r.err)
		}
		return r.last
	}
}

func TestNATSRestartMidLoad(t *testing.T) {
	h := newHarness(t)
	load := projtest.Generate(6, 20000, registry.Sample().Codes())
	wait := loadInBackground(t, h, load)
	r := h.start(t, Config{BatchMax: 2000})
	waitFor(t, 60*time.Second, "a fold under way", func() bool { return r.p.Watermark() >= 4000 })
	h.restartNATS(t)
	t.Logf("NATS restarted at watermark %d", r.p.Watermark())
	last := wait()
	waitFor(t, 60*time.Second, "the fold to catch up", func() bool { return r.p.Watermark() >= h.lastSeq(t) })
	h.check(t, load)
	if last > h.lastSeq(t) {
		t.Fatalf("acknowledged seq %d beyond the stream's last %d", last, h.lastSeq(t))
	}
	waitFor(t, 10*time.Second, "lag 0", func() bool { return metric(t, r.reg, "cds_projector_lag_events") == 0 })
	t.Logf("recoveries %v, failures %v", metric(t, r.reg, "cds_projector_recoveries_total"), metric(t, r.reg, "cds_projector_failures_total"))
}

func TestClickHouseRestartMidLoad(t *testing.T) {
	h := newHarness(t)
	load := projtest.Generate(7, 20000, registry.Sample().Codes())
	wait := loadInBackground(t, h, load)
	const batch = 2000
	r := h.start(t, Config{BatchMax: batch})
	waitFor(t, 60*time.Second, "a fold under way", func() bool { return r.p.Watermark() >= 4000 })
	h.killClickHouse(t)
	down := r.p.Watermark()
	t.Logf("ClickHouse killed at watermark %d", down)

	// While ClickHouse is down the projector retries with backoff and does
	// not consume: what the consumer has handed out stays put and bounded.
	ctx := context.Background()
	delivered := func() (uint64, int) {
		c, err := h.js.Consumer(ctx, natsserver.EventsStream, "cds-projector")
		if err != nil {
			t.Fatal(err)
		}
		info := c.CachedInfo()
		return info.Delivered.Stream, info.NumAckPending
	}
	waitFor(t, 30*time.Second, "failures and backoff", func() bool {
		return metric(t, r.reg, "cds_projector_failures_total") >= 2 && metric(t, r.reg, "cds_projector_backoff_seconds") > 0
	})
	d1, pending := delivered()
	f1 := metric(t, r.reg, "cds_projector_failures_total")
	waitFor(t, 30*time.Second, "two more retries", func() bool { return metric(t, r.reg, "cds_projector_failures_total") >= f1+2 })
	d2, _ := delivered()
	if d2 != d1 || pending > 4*batch {
		t.Errorf("while ClickHouse is down the consumer delivered %d then %d, %d unacknowledged: want no progress, at most %d", d1, d2, pending, 4*batch)
	}
	if w := r.p.Watermark(); w != down {
		t.Errorf("watermark moved from %d to %d while ClickHouse was down", down, w)
	}
	waitFor(t, 10*time.Second, "lag reported while down", func() bool { return metric(t, r.reg, "cds_projector_lag_events") > 0 })

	h.startClickHouse(t)
	last := wait()
	waitFor(t, 60*time.Second, "the fold to catch up", func() bool { return r.p.Watermark() >= last })
	h.check(t, load)
	if b := metric(t, r.reg, "cds_projector_backoff_seconds"); b != 0 {
		t.Errorf("backoff %v after recovery, want 0", b)
	}
	waitFor(t, 10*time.Second, "lag 0", func() bool { return metric(t, r.reg, "cds_projector_lag_events") == 0 })
	t.Logf("failures by stage: recover %v, consume %v, write %v; recoveries %v",
		metric(t, r.reg, "cds_projector_failures_total", "stage", "recover"),
		metric(t, r.reg, "cds_projector_failures_total", "stage", "consume"),
		metric(t, r.reg, "cds_projector_failures_total", "stage", "write"),
		metric(t, r.reg, "cds_projector_recoveries_total"))
}

// TestForgetfulStateStaysExact folds a load with duplicates, corrections
// and retractions (some before their target) with a fold state that keeps
// only the last few small batches in memory: everything older is read back
// from cds.fold_index, and the projections are still exact. The batches are
// tiny so that the targets of early corrections (published about 50
// messages after them) arrive after the correction left memory.
func TestForgetfulStateStaysExact(t *testing.T) {
	h := newHarness(t)
	load := projtest.Generate(8, 1500, registry.Sample().Codes())
	wait := loadInBackground(t, h, load)
	const batch = 8
	r := h.start(t, Config{BatchMax: batch, FoldCache: 1})
	wait()
	waitFor(t, 90*time.Second, "the fold to catch up", func() bool { return r.p.Watermark() >= h.lastSeq(t) })
	h.check(t, load)
	if n := metric(t, r.reg, "cds_projector_index_lookups_total"); n == 0 {
		t.Fatal("no lookup was read from cds.fold_index: the test does not exercise the index")
	} else {
		t.Logf("index lookups: %v", n)
	}
	// Two generations of a few batches each (at least 2), about 3 items per event.
	if items, most := metric(t, r.reg, "cds_projector_state_memory_items"), float64(2*5*3*batch); items > most {
		t.Fatalf("%v items in memory, want at most %v", items, most)
	}
}
