package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/credentials"
	"github.com/bacgiang/cds/natsserver"
	"github.com/bacgiang/cds/projector"
)

// RebuildStats reports a rebuild.
type RebuildStats struct {
	Events   uint64 // stream messages folded
	Duration time.Duration
}

// Rebuild drops the cds database and recomputes every projection from the
// event log, up to the stream's last sequence when it started. The live
// projector must be stopped: Rebuild refuses to run while the projector's
// consumer has a client pulling from it. progress, if not nil, is called
// about once a second with the watermark and the target.
func Rebuild(ctx context.Context, cfg Config, managedClickHouse bool, progress func(done, total uint64)) (RebuildStats, error) {
	reg, _, err := cfg.Domain()
	if err != nil {
		return RebuildStats{}, err
	}
	nc, err := ConnectService(cfg.NATSURL, cfg.DataDir, credentials.ServiceProjector, "cds-rebuild")
	if err != nil {
		return RebuildStats{}, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return RebuildStats{}, err
	}
	pcfg := projector.Config{NoDeadLetter: true}
	if c, err := js.Consumer(ctx, natsserver.EventsStream, "cds-projector"); err == nil {
		if info, err := c.Info(ctx); err == nil && info.NumWaiting > 0 {
			return RebuildStats{}, errors.New("rebuild: the projector is running (its consumer has pull requests waiting); stop it first")
		}
	}
	st, err := js.Stream(ctx, natsserver.EventsStream)
	if err != nil {
		return RebuildStats{}, fmt.Errorf("rebuild: %w", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return RebuildStats{}, fmt.Errorf("rebuild: %w", err)
	}
	target := info.State.LastSeq

	ch, err := OpenClickHouse(ctx, cfg, managedClickHouse)
	if err != nil {
		return RebuildStats{}, err
	}
	defer ch.Close()
	if err := ch.DB.Exec(ctx, "DROP DATABASE IF EXISTS `"+ch.DB.Name+"`"); err != nil {
		return RebuildStats{}, fmt.Errorf("rebuild: drop database: %w", err)
	}
	if _, err := ch.DB.Migrate(ctx); err != nil {
		return RebuildStats{}, fmt.Errorf("rebuild: %w", err)
	}
	known := func(code string) bool { _, ok := reg.Unit(code); return ok }
	p, err := projector.New(pcfg, js, ch.DB, known, cfg.logger().With("component", "rebuild"), nil)
	if err != nil {
		return RebuildStats{}, err
	}
	return drain(ctx, p, target, progress)
}

// drain runs p until its watermark reaches target.
func drain(ctx context.Context, p *projector.Projector, target uint64, progress func(done, total uint64)) (RebuildStats, error) {
	start := time.Now()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	defer func() { cancel(); <-done }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	last := time.Now()
	for p.Watermark() < target {
		select {
		case <-ctx.Done():
			return RebuildStats{}, ctx.Err()
		case err := <-done:
			done <- err
			return RebuildStats{}, fmt.Errorf("projector stopped at %d of %d: %v", p.Watermark(), target, err)
		case <-tick.C:
			if progress != nil && time.Since(last) >= time.Second {
				progress(p.Watermark(), target)
				last = time.Now()
			}
		}
	}
	if progress != nil {
		progress(p.Watermark(), target)
	}
	return RebuildStats{Events: target, Duration: time.Since(start)}, nil
}

// Drain runs p until its watermark reaches target (exported for benchmarks).
func Drain(ctx context.Context, p *projector.Projector, target uint64, progress func(done, total uint64)) (RebuildStats, error) {
	return drain(ctx, p, target, progress)
}
