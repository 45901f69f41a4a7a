package projector

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/fold"
	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/projector/projtest"
)

// TestLeaseExpiry: a second claimant waits while the holder renews, takes
// the lease once the holder stops renewing for the TTL (a kill), and the
// old holder is fenced: its fence fails and its next renewal says lost.
func TestLeaseExpiry(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	const ttl = time.Second
	a, err := openLease(ctx, h.js, "CDS_EVENTS", leaseKey("cds", "CDS_EVENTS"), ttl, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	b, err := openLease(ctx, h.js, "CDS_EVENTS", leaseKey("cds", "CDS_EVENTS"), ttl, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.acquire(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := a.fence("x"); err != nil {
		t.Fatalf("fence of the holder: %v", err)
	}
	keepCtx, stopKeeping := context.WithCancel(ctx)
	kept := make(chan error, 1)
	go func() { kept <- a.keep(keepCtx, nil) }()
	// While a renews, b waits.
	wctx, cancel := context.WithTimeout(ctx, 3*ttl)
	err = b.acquire(wctx, nil)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire while the holder renews: %v, want a timeout", err)
	}
	if b.lastHolder() != a.holder {
		t.Errorf("standby saw holder %q, want %q", b.lastHolder(), a.holder)
	}
	// a dies: it stops renewing.
	stopKeeping()
	if err := <-kept; err != nil {
		t.Fatal(err)
	}
	died := time.Now()
	if err := b.acquire(ctx, nil); err != nil {
		t.Fatal(err)
	}
	took := time.Since(died)
	t.Logf("takeover %s after the holder stopped renewing (TTL %s)", took.Round(time.Millisecond), ttl)
	if took < ttl-ttl/4 || took > 3*ttl {
		t.Errorf("takeover after %s, want about the TTL %s", took, ttl)
	}
	if err := a.fence("x"); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("fence of the old holder: %v, want ErrLeaseLost", err)
	}
	if err := a.renew(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("renewal of the old holder: %v, want ErrLeaseLost", err)
	}
	if b.val.Epoch != a.val.Epoch+1 || len(b.val.Unsealed) != 1 || b.val.Unsealed[0] != a.val.Token {
		t.Errorf("new lease %+v after %+v: want the next epoch, the old token unsealed", b.val, a.val)
	}
	// A clean release is taken over at once.
	b.release(ctx)
	start := time.Now()
	if err := a.acquire(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > ttl/2 {
		t.Errorf("takeover of a released lease took %s", d)
	}
}

// TestTwoProjectors runs two projectors against one stream and database
// under load: one is active, the other waits; stopping the active one
// hands over to the other, again and again; a rebuild meanwhile is
// refused; a late commit of a fenced-out projector is recognised by its
// lease token and refolded. ClickHouse ends exact.
func TestTwoProjectors(t *testing.T) {
	h := newHarness(t)
	load := projtest.Generate(11, 30000, registry.Sample().Codes())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	published := make(chan error, 1)
	go func() {
		for i := 0; i < len(load.Msgs); i += 3000 {
			if _, err := projtest.Publish(ctx, h.js, load.Msgs[i:min(i+3000, len(load.Msgs))]); err != nil {
				published <- err
				return
			}
			time.Sleep(300 * time.Millisecond) // pacing the load over the handovers
		}
		published <- nil
	}()
	cfg := Config{LeaseTTL: time.Second, BatchMax: 2000}
	ps := []*running{h.start(t, cfg), h.start(t, cfg)}
	active := func() int {
		n := -1
		waitFor(t, 30*time.Second, "an active projector", func() bool {
			for i, r := range ps {
				if metric(t, r.reg, "cds_projector_active") == 1 {
					n = i
					return true
				}
			}
			return false
		})
		return n
	}
	for round := 0; round < 4; round++ {
		i := active()
		other := ps[1-i]
		// Hand over in the middle of the load: once this one has folded some.
		waitFor(t, time.Minute, "progress", func() bool { return ps[i].p.Watermark() >= uint64(round+1)*6000 })
		w := ps[i].p.Watermark()
		stopped := time.Now()
		ps[i].stop()
		waitFor(t, 15*time.Second, "the standby to take over", func() bool { return metric(t, other.reg, "cds_projector_active") == 1 })
		t.Logf("round %d: projector %d stopped at watermark %d; the other active after %s", round, i, w, time.Since(stopped).Round(time.Millisecond))
		ps[i] = h.start(t, cfg) // a new standby
	}

	// A rebuild while a projector runs waits for the lease, then refuses.
	rb, err := New(Config{LeaseTTL: time.Second}, Deps{JetStream: h.js, DB: h.db, Units: h.units})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rb.Rewind(ctx, 1); err == nil || !strings.Contains(err.Error(), "holds the lease") {
		t.Fatalf("Rewind while a projector runs: %v, want a refusal", err)
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	last := h.lastSeq(t)
	// A bound on liveness, not a speed: at load average 13 a minute was
	// not enough (the fold then caught up and was exact).
	waitFor(t, 3*time.Minute, "the fold", func() bool { return ps[active()].p.Watermark() >= last })
	h.check(t, load)

	// A batch of a projector that lost the lease lands late: cells and
	// a marker with its token.
	r := ps[active()]
	late, err := h.db.PrepareBatch(ctx, "INSERT INTO cds.rollup (indicator, unit, period, dim, day, num, den, n)")
	if err != nil {
		t.Fatal(err)
	}
	c := newCellColumns(1 + markerRows)
	c.add(fold.Row{Cell: fold.Cell{Indicator: "HSCV", Unit: "bg-vietyen", Period: 2025, Day: fold.DayNumber(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC))}, Amount: events.Amount{Num: 5, Den: 5, N: 5}})
	c.marker("CDS_EVENTS", "1@fenced-out", position{}, position{})
	appendCells(t, late, c)
	if err := late.Send(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the late commit to be recognised", func() bool {
		return metric(t, r.reg, "cds_projector_repairs_total", "reason", "fenced_commit") == 1
	})
	waitFor(t, time.Minute, "the refold", func() bool {
		rep, err := projtest.Check(ctx, h.db, load, last)
		return err == nil && rep.OK()
	})
	if got := metric(t, r.reg, "cds_projector_fenced_commits_total"); got != 1 {
		t.Errorf("cds_projector_fenced_commits_total %v, want 1", got)
	}
	h.check(t, load)
}
