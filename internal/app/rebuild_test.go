package app

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/internal/chserver/chtest"
	"github.com/bacgiang/cds/internal/credentials"
	"github.com/bacgiang/cds/projector/projtest"
)

// rebuildEnv is an embedded NATS (one System) and a projector (another), so
// that the projector can be stopped while the log stays up.
type rebuildEnv struct {
	cfg  Config
	nats *System
	proj *System
	js   jetstream.JetStream // admin
}

func newRebuildEnv(tb testing.TB) *rebuildEnv {
	tb.Helper()
	ch := chtest.Start(tb)
	cfg := Defaults()
	cfg.DataDir = tb.TempDir()
	cfg.NATSAddr = "127.0.0.1:-1"
	cfg.ClickHouseAddr = ch.Addr()
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns, err := Start(ctx, cfg, Parts{NATS: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ns.Close(context.Background()) })
	cfg.NATSURL = ns.NATSURL()
	creds, err := credentials.LoadFile(cfg.DataDir)
	if err != nil {
		tb.Fatal(err)
	}
	nc, err := nats.Connect(cfg.NATSURL, nats.UserInfo(creds.Admin.User, creds.Admin.Password))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(8192))
	if err != nil {
		tb.Fatal(err)
	}
	return &rebuildEnv{cfg: cfg, nats: ns, js: js}
}

func (e *rebuildEnv) startProjector(tb testing.TB) {
	tb.Helper()
	sys, err := Start(context.Background(), e.cfg, Parts{Projector: true})
	if err != nil {
		tb.Fatal(err)
	}
	e.proj = sys
	tb.Cleanup(func() { sys.Close(context.Background()) })
}

func (e *rebuildEnv) stopProjector(tb testing.TB) {
	tb.Helper()
	if err := e.proj.Close(context.Background()); err != nil {
		tb.Fatal(err)
	}
	e.proj = nil
}

func (e *rebuildEnv) publish(tb testing.TB, load *projtest.Load) uint64 {
	tb.Helper()
	last, err := projtest.Publish(context.Background(), e.js, load.Msgs)
	if err != nil {
		tb.Fatal(err)
	}
	return last
}

func (e *rebuildEnv) waitFolded(tb testing.TB, seq uint64) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for e.proj.Proj.Watermark() < seq {
		if time.Now().After(deadline) {
			tb.Fatalf("watermark %d, want %d", e.proj.Proj.Watermark(), seq)
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
}

func (e *rebuildEnv) snapshot(tb testing.TB) *projtest.Snapshot {
	tb.Helper()
	ch, err := OpenClickHouse(context.Background(), e.cfg, false)
	if err != nil {
		tb.Fatal(err)
	}
	defer ch.Close()
	s, err := projtest.Take(context.Background(), ch.DB)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// TestRebuildEqualsLive folds a load live, then rebuilds everything, from a
// sequence and from an instant, and compares each rebuild with the live
// projection row for row (cds.events sorted, cells aggregated per key).
func TestRebuildEqualsLive(t *testing.T) {
	e := newRebuildEnv(t)
	units := registryCodes(t, e.cfg)
	first := projtest.Generate(21, 8000, units)
	e.publish(t, first)
	between := time.Now()
	second := projtest.Generate(22, 4000, units)
	last := e.publish(t, second)
	e.startProjector(t)
	e.waitFolded(t, last)

	ctx := context.Background()
	if _, err := Rebuild(ctx, e.cfg, false, RebuildOptions{}); err == nil || !strings.Contains(err.Error(), "running") {
		t.Fatalf("Rebuild while the projector runs: %v, want a refusal", err)
	}
	// Another database has its own consumer: its rebuild runs beside the
	// live projector, whose consumer it leaves alone.
	other := e.cfg
	other.ClickHouseDB = "cds_other"
	if st, err := Rebuild(ctx, other, false, RebuildOptions{}); err != nil || st.Events != last {
		t.Fatalf("Rebuild of another database while the projector of cds runs: %+v, %v; want %d events", st, err, last)
	}
	if _, err := Rebuild(ctx, e.cfg, false, RebuildOptions{}); err == nil || !strings.Contains(err.Error(), "running") {
		t.Fatalf("Rebuild of cds after that of another database: %v, want a refusal (the live projector still pulls)", err)
	}
	e.stopProjector(t)
	live := e.snapshot(t)
	if live.Watermark != last || len(live.Events) == 0 {
		t.Fatalf("live projection at %d with %d events, want %d", live.Watermark, len(live.Events), last)
	}

	tests := []struct {
		name     string
		opts     RebuildOptions
		wantFrom uint64
	}{
		{"all", RebuildOptions{}, 1},
		{"from seq", RebuildOptions{FromSeq: last / 3}, last / 3},
		{"from an instant", RebuildOptions{FromDate: between}, uint64(len(first.Msgs)) + 1},
		{"beyond the log", RebuildOptions{FromSeq: last + 100}, last + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls int
			tt.opts.Progress = func(done, total uint64) { calls++ }
			st, err := Rebuild(ctx, e.cfg, false, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if st.From != tt.wantFrom || st.Target != last {
				t.Errorf("rebuilt %d..%d, want %d..%d", st.From, st.Target, tt.wantFrom, last)
			}
			if st.Events > 0 && calls == 0 {
				t.Error("no progress reported")
			}
			if d := live.Diff(e.snapshot(t)); len(d) > 0 {
				t.Fatalf("rebuild differs from live:\n%s", strings.Join(d, "\n"))
			}
			t.Logf("%s: %d events from seq %d in %s (%.0f events/s)", tt.name, st.Events, st.From, st.Duration.Round(time.Millisecond),
				float64(st.Events)/(st.Duration-st.Prepare).Seconds())
		})
	}

	// The live projector resumes after a rebuild and stays exact.
	third := projtest.Generate(23, 2000, units)
	last = e.publish(t, third)
	e.startProjector(t)
	e.waitFolded(t, last)
	all := &projtest.Load{Msgs: append(append(append([]projtest.Msg(nil), first.Msgs...), second.Msgs...), third.Msgs...)}
	r, err := projtest.Check(ctx, e.proj.CH.DB, all, last)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatal(r)
	}
}

func registryCodes(tb testing.TB, cfg Config) []string {
	tb.Helper()
	reg, _, err := cfg.Domain()
	if err != nil {
		tb.Fatal(err)
	}
	return reg.Codes()
}
