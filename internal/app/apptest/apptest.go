// Package apptest starts a whole cds system (NATS, projector, API) against a
// fresh clickhouse-server for the tests of packages outside internal/app.
package apptest

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bacgiang/cds/internal/app"
	"github.com/bacgiang/cds/internal/chserver/chtest"
	"github.com/bacgiang/cds/internal/credentials"
	"github.com/nats-io/nats.go/jetstream"
)

// Start runs NATS, projector and API on free ports, in tb.TempDir(), against
// a fresh clickhouse-server, logging at level to the test's log; configure
// changes the configuration before the start (nil: none). The system is
// closed when the test ends.
func Start(tb testing.TB, level slog.Level, configure func(*app.Config)) *app.System {
	tb.Helper()
	ch := chtest.Start(tb)
	cfg := app.Defaults()
	cfg.DataDir = tb.TempDir()
	cfg.NATSAddr = "127.0.0.1:-1"
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.ClickHouseAddr = ch.Addr()
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{tb}, &slog.HandlerOptions{Level: level}))
	if configure != nil {
		configure(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sys, err := app.Start(ctx, cfg, app.Parts{NATS: true, Projector: true, API: true})
	if err != nil {
		tb.Fatalf("start system: %v", err)
	}
	tb.Cleanup(func() {
		if err := sys.Close(context.Background()); err != nil {
			tb.Errorf("close system: %v", err)
		}
	})
	return sys
}

// testWriter sends logs to the test's log.
type testWriter struct{ tb testing.TB }

// WaitCaughtUp waits up to two minutes until sys's projector has folded
// every message of the stream.
func WaitCaughtUp(tb testing.TB, sys *app.System) {
	tb.Helper()
	nc, err := app.ConnectService(sys.NATSURL(), sys.Config.DataDir, credentials.ServiceProjector, "test", nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := sys.WaitCaughtUp(ctx, js); err != nil {
		tb.Fatalf("projector did not catch up: %v (watermark %d)", err, sys.Proj.Watermark())
	}
}

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
